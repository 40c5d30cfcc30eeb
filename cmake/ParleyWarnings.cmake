# Strict warnings for Parley's own targets only (never for system headers).
set(PARLEY_WARNINGS
    -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral)

function(parley_warnings target)
    target_compile_options(${target} PRIVATE ${PARLEY_WARNINGS})
endfunction()
