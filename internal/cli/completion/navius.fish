# fish completion for navius (navius completion fish | source): it asks
# navius itself (navius __complete LINE), and completes file names when it
# has nothing.
function __navius_complete
    set -l tokens (commandline -opc)
    set -l line (commandline -cp)
    set -l cands ($tokens[1] __complete "$line" 2>/dev/null)
    if test (count $cands) -eq 0
        __fish_complete_path (commandline -ct)
    else
        printf '%s\n' $cands
    end
end
complete -c navius -f -a '(__navius_complete)'
