# Run as: cmake -DOUT=<file.c> -DIN=<text file> -DNAME=<symbol> -P EmbedText.cmake
# Writes a C file defining `const char NAME[]`: the file's bytes and a NUL,
# and `const unsigned long NAME_len` (without the NUL). No tools beyond cmake.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
string(REPEAT "0x..," 12 row)
string(REGEX REPLACE "(${row})" "\\1\n    " hex "${hex}")
file(WRITE ${OUT}.tmp
"/* Generated from ${IN} by cmake/EmbedText.cmake. Do not edit. */
const char ${NAME}[] = {
    ${hex}0x00
};
const unsigned long ${NAME}_len = ${len};
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
