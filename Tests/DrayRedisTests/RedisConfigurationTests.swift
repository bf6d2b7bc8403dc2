import DrayRedis
import Testing

@Suite("redis:// URLs and REDIS_PORT")
struct RedisConfigurationTests {
    @Test("host, port, password, user and database")
    func parts() throws {
        let plain = try RedisConfiguration(url: "redis://cache.local")
        #expect(plain.host == "cache.local" && plain.port == 6379 && plain.password == nil && plain.database == 0)
        let full = try RedisConfiguration(url: "redis://:s%40cret@10.0.0.5:6380/3")
        #expect(full.host == "10.0.0.5" && full.port == 6380 && full.password == "s@cret" && full.database == 3)
        #expect(full.username == nil)
        #expect(full.redactedURL == "redis://:***@10.0.0.5:6380/3")
        let user = try RedisConfiguration(url: "redis://dray:pw@[::1]:7000")
        #expect(user.username == "dray" && user.password == "pw" && user.host == "::1" && user.port == 7000)
    }

    @Test(
        "a wrong URL says what is wrong",
        arguments: [
            ("http://x", "not a redis:// URL"), ("rediss://x", "TLS"), ("redis://", "no host"),
            ("redis://x/abc", "database"), ("redis://x:6379?db=1", "query"),
        ])
    func wrong(_ url: String, _ words: String) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            "\(error)".contains(words)
        }
    }

    @Test("the seed's REDIS_PORT link variable becomes a URL")
    func linkVariable() {
        #expect(RedisConfiguration.redisURL(fromLinkVariable: "tcp://172.17.0.2:6379") == "redis://172.17.0.2:6379")
        #expect(RedisConfiguration.redisURL(fromLinkVariable: "6379") == nil)
    }
}
