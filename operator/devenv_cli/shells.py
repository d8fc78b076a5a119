"""PURE: the shell completion scripts that ``kubectl devenv completion bash|zsh`` prints.

Both ask ``kubectl_complete-devenv`` (``devenv_cli.complete``), the program kubectl
(>= 1.26) itself runs to complete ``kubectl devenv <TAB>``: it is given the words after
``devenv`` (the last one the word being completed, empty after a space) and prints one
candidate a line (``VALUE<TAB>DESCRIPTION``), then ``:DIRECTIVE`` (cobra's directive: 4 no
file names, 16 directory names, 0 file names when there is no candidate). The scripts turn
that into the shell's own completion for ``kubectl-devenv`` typed by its own name;
``kubectl devenv`` needs only kubectl's own completion script.
"""

from __future__ import annotations

SHELLS = ("bash", "zsh")
HOOK = "kubectl_complete-devenv"

# Words are split from the line itself, not COMP_WORDS, which bash also splits at ':'
# and '=' (api:8080 would be three words); the replies then drop what bash counts as
# an earlier word (up to the last ':' of the current one).
BASH = r"""# bash completion for kubectl-devenv (kubectl devenv completion bash).
# Load it with `source <(kubectl devenv completion bash)`, e.g. in ~/.bashrc.
# `kubectl devenv <TAB>` is completed by kubectl's own script (kubectl >= 1.26).
_kubectl_devenv() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="" out item directive=0
    local -a words
    read -ra words <<< "$line"
    if [[ $line != *[[:space:]] ]]; then
        cur=${words[${#words[@]}-1]}
        unset "words[${#words[@]}-1]"
    fi
    out=$(@HOOK@ "${words[@]:1}" "$cur" 2>/dev/null) || return 0
    COMPREPLY=()
    while IFS= read -r item; do
        case $item in
            :[0-9]*) directive=${item#:} ;;
            ?*) item=${item%%$'\t'*}
                [[ $item == "$cur"* ]] && COMPREPLY+=("$item") ;;
        esac
    done <<< "$out"
    if ((${#COMPREPLY[@]} == 0)); then
        if ((directive & 16)); then
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        elif ! ((directive & 4)); then
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
    fi
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local earlier=${cur%"${cur##*:}"}
        COMPREPLY=("${COMPREPLY[@]#"$earlier"}")
    fi
}
complete -F _kubectl_devenv kubectl-devenv
"""

ZSH = r"""#compdef kubectl-devenv
# zsh completion for kubectl-devenv (kubectl devenv completion zsh).
# Load it with `source <(kubectl devenv completion zsh)` after compinit, or save it as
# _kubectl-devenv in a directory of $fpath.
# `kubectl devenv <TAB>` is completed by kubectl's own script (kubectl >= 1.26).
_kubectl_devenv() {
    local out item value text directive=0
    local -a candidates
    out=$(@HOOK@ "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null) || return 1
    for item in "${(@f)out}"; do
        if [[ $item == :[0-9]* ]]; then
            directive=${item#:}
        elif [[ -n $item ]]; then
            value=${item%%$'\t'*}
            text=${item#*$'\t'}
            value=${value//:/\\:}
            if [[ $text == "$item" ]]; then
                candidates+=("$value")
            else
                candidates+=("$value:$text")
            fi
        fi
    done
    if (( ${#candidates} )); then
        _describe 'kubectl devenv' candidates
    elif (( directive & 16 )); then
        _files -/
    elif (( ! (directive & 4) )); then
        _files
    fi
}
if [[ ${funcstack[1]} == _kubectl-devenv ]]; then
    _kubectl_devenv "$@"
else
    compdef _kubectl_devenv kubectl-devenv
fi
"""


def script(shell: str) -> str:
    """The completion script for ``shell`` (one of ``SHELLS``)."""
    return {"bash": BASH, "zsh": ZSH}[shell].replace("@HOOK@", HOOK)
