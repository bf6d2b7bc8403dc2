#!/bin/sh
# Writes WORD_COUNT random words (default 1), one per line.
count=${WORD_COUNT:-1}
words="amber anchor apple arrow autumn badger banjo basil beacon birch bison blossom bramble breeze cactus
canyon cedar cello cinder clover cobalt comet copper coral cricket crystal dahlia delta dune ember falcon
fern fjord flint fossil galaxy garnet glacier granite harbor hazel heron horizon indigo iris ivory jasper
juniper kelp kestrel lagoon lantern lava lemon lichen lotus lynx magnet maple marble meadow mesa meteor
mint moss nebula nectar nutmeg oasis obsidian ocean olive onyx opal orbit orchid otter pebble pepper
pine planet plum prism quartz quill raven reef ridge river robin saffron sage sequoia shadow sierra
silver sparrow spruce summit tundra thistle thunder topaz tulip umber valley velvet violet walnut willow
zephyr zinnia"
i=0
while [ "$i" -lt "$count" ]; do
  echo $words | tr ' ' '\n' | shuf -n 1
  i=$((i + 1))
done
