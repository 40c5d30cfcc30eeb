# -DPARLEY_SANITIZE=address,undefined (or thread) instruments every target.
set(PARLEY_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined")
if(PARLEY_SANITIZE)
    add_compile_options(-fsanitize=${PARLEY_SANITIZE} -fno-omit-frame-pointer
                        -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${PARLEY_SANITIZE})
endif()
