#!/bin/sh
# Regenerates the pandoc-written fixtures from source.html (pandoc 2.17).
set -eu
cd "$(dirname "$0")"
pandoc -f html -t html5 -s -M lang=en -o page.html source.html
pandoc -f html -t markdown -s -o pandoc.md source.html
pandoc -f html -t gfm -o pandoc-gfm.md source.html
