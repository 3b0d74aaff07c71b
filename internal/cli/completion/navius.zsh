#compdef navius
# zsh completion for navius (navius completion zsh): it asks navius itself
# (navius __complete LINE), and completes file names when it has nothing.

_navius() {
    local line=${BUFFER[1,CURSOR]}
    local -a cands
    cands=("${(@f)$(${words[1]} __complete "$line" 2>/dev/null)}")
    cands=(${cands:#})
    if (( ${#cands} == 0 )); then
        _files
        return
    fi
    # Candidates are whole words; a value that goes on (key=, a list)
    # takes no space after it.
    local -a cont done
    cont=(${(M)cands:#*[=,]})
    done=(${cands:#*[=,]})
    (( ${#cont} )) && compadd -U -Q -S '' -- "${cont[@]}"
    (( ${#done} )) && compadd -U -Q -- "${done[@]}"
}

if (( $+functions[compdef] )); then
    compdef _navius navius
fi
