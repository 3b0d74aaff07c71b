# bash completion for navius (navius completion bash). It asks navius
# itself (navius __complete LINE) and also completes make's FEATURES=.

# _navius_reply fills COMPREPLY from whole-word candidates for the word
# being typed (tok), keeping only what bash replaces: it splits words at
# = and : (COMP_WORDBREAKS), so --features=mem is three words to it.
_navius_reply() {
    local tok=$1 cur=${COMP_WORDS[COMP_CWORD]} c
    shift
    local strip=${tok%"$cur"}
    COMPREPLY=()
    for c in "$@"; do
        [[ $c == "$tok"* ]] && COMPREPLY+=("${c#"$strip"}")
    done
    # A value that goes on (key=, a list) takes no space after it.
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *[=,] ]]; then
        compopt -o nospace 2>/dev/null
    fi
}

_navius() {
    local line=${COMP_LINE:0:$COMP_POINT} IFS=$'\n'
    local cands=($("${COMP_WORDS[0]}" __complete "$line" 2>/dev/null))
    # Nothing to offer: file names (-o default).
    [[ ${#cands[@]} -gt 0 ]] && _navius_reply "${line##*[[:space:]]}" "${cands[@]}"
}
complete -o default -F _navius navius

# make build FEATURES=...: the feature names, from bin/navius (else navius
# on PATH); everything else goes to make's own completion.
_navius_make() {
    local line=${COMP_LINE:0:$COMP_POINT} IFS=$'\n' nav=navius
    local tok=${line##*[[:space:]]}
    if [[ $tok == FEATURES=* ]]; then
        [[ -x bin/navius ]] && nav=bin/navius
        local cands=($("$nav" __complete navius build --features "${tok#FEATURES=}" 2>/dev/null))
        _navius_reply "$tok" "${cands[@]/#/FEATURES=}"
        return
    fi
    if ! declare -F _make >/dev/null; then
        declare -F __load_completion >/dev/null && __load_completion make
        complete -F _navius_make make # loading it registered make's own
    fi
    declare -F _make >/dev/null && _make "$@"
}
complete -F _navius_make make
