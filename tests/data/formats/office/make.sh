#!/bin/sh
# Regenerates the Office fixtures of tests/test_formats_office.py from the sources next to them:
#   source.md     -> pandoc.docx, pandoc.odt (headings, list, table, bold, italic, link, footnote)
#   slides.md     -> pandoc.pptx (title slide, bullets with bold/italic/link, table, notes)
#   features.fodt -> libreoffice.odt, libreoffice.docx (header, footer with a page field,
#                    footnote, comment, text box, table, list, tab/line break/spaces, link)
#   features.fodp -> libreoffice.pptx (group shape, text boxes, table, notes as text boxes)
# Needs pandoc and LibreOffice (soffice). Each fixture stays under 50 KB.
set -eu
cd "$(dirname "$0")"
export SOURCE_DATE_EPOCH=1700000000  # pandoc's dates, so its output is reproducible
pandoc source.md -o pandoc.docx
pandoc source.md -o pandoc.odt
pandoc slides.md -o pandoc.pptx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
convert() {  # convert FILTER SOURCE TARGET, with a private LibreOffice profile
    soffice -env:UserInstallation="file://$work/profile" --headless \
        --convert-to "$1" --outdir "$work/out" "$2" >/dev/null 2>&1
    mv "$work/out/${2%.*}.$1" "$3"
}
convert odt features.fodt libreoffice.odt
convert docx features.fodt libreoffice.docx
convert pptx features.fodp libreoffice.pptx
ls -l pandoc.docx pandoc.odt pandoc.pptx libreoffice.odt libreoffice.docx libreoffice.pptx
