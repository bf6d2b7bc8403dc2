import DrayCLI

@main
enum DrayMain {
    static func main() async {
        await Dray.main()
    }
}
