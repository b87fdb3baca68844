#!/bin/sh
# Regenerates the pandoc-written fixtures from source.html (written with pandoc 2.17):
#   page.html      pandoc's standalone HTML5 page (lang="en", <meta charset="utf-8">)
#   pandoc.md      pandoc's own Markdown, with its YAML title block as front matter
#   pandoc-gfm.md  pandoc's GitHub-flavoured Markdown (a pipe table)
# features.md, v12.xlf and v20.xlf are written by hand (the XLIFF files after the examples of
# the OASIS XLIFF 1.2 and 2.0 specifications).
set -eu
cd "$(dirname "$0")"
pandoc -f html -t html5 -s -M lang=en -o page.html source.html
pandoc -f html -t markdown -s -o pandoc.md source.html
pandoc -f html -t gfm -o pandoc-gfm.md source.html
