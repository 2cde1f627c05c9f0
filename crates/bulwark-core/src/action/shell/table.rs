//! The built-in table of known programs: for each, the options it may take while it stays what
//! its class says (see [`super::spec`] for the notation). A program or option not listed here is
//! not assumed safe: an unknown program is `destructive`, and so is an unknown option of a known
//! program (it may name a program to run, as `rg --pre`, `git --upload-pack` and `tar
//! --to-command` do).
//!
//! Keys are a program's name, or a program and its subcommand words (`git log`, `kubectl rollout
//! status`). A program with subcommands has a key of its own for its global options.

/// `(keys, class, operands, options)`.
pub type Entry = (&'static str, &'static str, &'static str, &'static str);

const GIT_LOG: &str = "--oneline -n= --max-count= -# --since= --until= --after= --before= \
--author= --committer= --grep=pat --all --branches? --tags? --remotes? --graph --decorate? \
--no-decorate --stat? --shortstat --numstat --name-only --name-status -p -u --patch --no-patch -s \
--format= --pretty? --abbrev-commit --abbrev? --no-abbrev --no-merges --merges --first-parent \
--reverse --date= --relative-date -i --regexp-ignore-case -E -F -S= -G= --follow -L= -M? -C? \
--color? --no-color --word-diff? --summary --full-history --topo-order --date-order \
--author-date-order --left-right --cherry-pick --cherry-mark --ancestry-path --boundary --count \
--skip= --show-signature --parents --children --raw --cc --diff-filter= -U= --unified= -w \
--ignore-all-space -b --ignore-space-change --minimal --histogram --patience --function-context \
-W -z --full-diff --mailmap --use-mailmap --no-mailmap --no-notes --encoding= --source \
--exit-code --quiet --check --compact-summary --no-ext-diff --no-textconv --all-match \
--invert-grep --basic-regexp --extended-regexp --fixed-strings --perl-regexp -P --glob= \
--exclude= --simplify-by-decoration --simplify-merges --dense --sparse --walk-reflogs -g \
--remove-empty --no-renames --find-renames? -R --stat-width= --name-rev --merge-base --cached \
--staged --ignore-blank-lines --ignore-cr-at-eol --ignore-space-at-eol --text -a --binary \
--dirstat? --no-prefix --src-prefix= --dst-prefix= --line-prefix= --relative? --no-relative \
--output=wpath --submodule? --ignore-submodules? --no-walk? --do-walk --single-worktree --not";

const KUBE_GLOBAL: &str = "-n= --namespace= -A! --all-namespaces! --context= --cluster= \
--user= --kubeconfig=path --request-timeout= --insecure-skip-tls-verify \
--tls-server-name= -v= --v= --certificate-authority=path --client-certificate=path \
--client-key=path --match-server-version --warnings-as-errors --cache-dir=path --disable-compression";

const KUBE_SELECT: &str = "-o= --output= -l= --selector= --field-selector= -w --watch \
--watch-only --show-labels --sort-by= --no-headers -L= --label-columns= --show-kind --chunk-size= \
--ignore-not-found --output-watch-events --raw= --subresource= -f=path --filename=path -R \
--recursive -k=path --kustomize=path --template= --server-print \
--allow-missing-template-keys? --show-managed-fields --show-events?";

const KUBE_APPLY: &str = "-f=path --filename=path -k=path --kustomize=path -R --recursive \
--dry-run? --server-side --force-conflicts --field-manager= --validate? -l= --selector= --record \
--wait? --timeout= -o= --output= --overwrite? --save-config --all --show-managed-fields \
--resource-version= --local --type= -p= --patch= --patch-file=path --list? --field-selector=";

const HELM_GLOBAL: &str = "-n= --namespace= -A! --all-namespaces! --kube-context= \
--kubeconfig=path --debug --registry-config=path --repository-cache=path \
--repository-config=path --burst-limit= --qps= --kube-insecure-skip-tls-verify \
--kube-tls-server-name= --kube-ca-file=path";

const HELM_READ: &str = "-o= --output= --revision= -a --all --max= --filter= -q --short --date \
--time-format= -r --reverse -l= --selector= --deployed --failed --pending --superseded \
--uninstalled --uninstalling --no-headers --offset= -m= --version= --devel --values=path -f=path \
--set= --set-string= --set-file=path --set-json= --set-literal= --show-only= -s= --include-crds \
--skip-crds --skip-tests --release-name --name-template= --api-versions= --kube-version= \
--is-upgrade --validate --strict --with-subcharts --regexp --max-col-width= --template= \
--show-resources --dependency-update --verify --keyring=path --repo= --insecure-skip-tls-verify \
--ca-file=path --cert-file=path --key-file=path --username= --password= --pass-credentials \
--plain-http --no-hooks --atomic --wait --wait-for-jobs --timeout= --create-namespace \
--reset-values --reuse-values --reset-then-reuse-values --install -i --force-update --dry-run? \
--skip-refresh --generate-name -g --description= --history-max= --cleanup-on-fail \
--disable-openapi-validation --enable-dns --labels= --take-ownership --untar --untardir=wpath \
-d=wpath --destination=wpath --sign --key= --app-version= --prov";

const TF: &str = "-no-color -json -input= -lock= -lock-timeout= -var= -var-file=path -target= \
-refresh= -refresh-only -detailed-exitcode -compact-warnings -parallelism= -out=wpath -state=path \
-raw -module-depth= -type= -draw-cycles -check -diff -recursive -list= -write= -replace= \
-generate-config-out=wpath -plan= -concise -test-directory=path";

const DOCKER_GLOBAL: &str = "--context= -c= --config=path -l= --log-level= --tls \
--tlsverify --tlscacert=path --tlscert=path --tlskey=path -D --debug";

const SYSTEMD: &str = "--no-pager -l --full -a --all -t= --type= --state= --user --system -q \
--quiet -p= --property= --value -n= --lines= -o= --output= --plain --no-legend -r --recursive \
--failed --reverse --before --after --with-dependencies --show-types \
--legend? --timestamp=";

/// The built-in table.
pub const BUILTIN: &[Entry] = &[
    // Reading files and listings.
    (
        "ls ll dir vdir",
        "read",
        "paths",
        "-a -A -l -h -R -t -r -S -1 -d -F -i -s -n -G -g -o -p -c -u -x -C -L -H -X -v -Z -k -b -q -Q -N -U -B -m --all --almost-all --human-readable --recursive --reverse --color? --classify? --directory --inode --size --numeric-uid-gid --sort= --time= --time-style= --format= --group-directories-first --full-time --ignore= --hide= -I= -w= --width= --indicator-style= --quoting-style= --literal --dereference --block-size= --si --author --context -T= --dired --escape --file-type --hyperlink? --kibibytes --no-group --show-control-chars --hide-control-chars --ignore-backups --zero",
    ),
    (
        "cat",
        "read",
        "paths",
        "-A -b -e -E -n -s -t -T -u -v --show-all --number-nonblank --number --squeeze-blank --show-ends --show-tabs --show-nonprinting",
    ),
    (
        "tac",
        "read",
        "paths",
        "-b -r -s= --before --regex --separator=",
    ),
    (
        "head tail",
        "read",
        "paths",
        "-# -n= -c= -q -v -z -f -F --lines= --bytes= --quiet --silent --verbose --follow? --retry -s= --sleep-interval= --pid= --zero-terminated --max-unchanged-stats=",
    ),
    (
        "less more",
        "read",
        "paths",
        "-N -S -R -r -i -I -F -X -K -M -m -n -g -G -J -s -E -e -q -Q -w -c -d -f -L --chop-long-lines --RAW-CONTROL-CHARS --ignore-case --quit-if-one-screen --no-init --quit-on-intr --LONG-PROMPT --line-numbers --squeeze-blank-lines --quit-at-eof --QUIT-AT-EOF --silent --mouse -x= --tabs=",
    ),
    (
        "grep egrep fgrep zgrep",
        "read",
        "pattern",
        "-i -y -v -n -r -R -l -L -c -h -H -o -q -s -w -x -E -F -G -P -a -I -z -Z -b -T -U --color? --colour? --ignore-case --no-ignore-case --invert-match --line-number --recursive --dereference-recursive --files-with-matches --files-without-match --count --no-filename --with-filename --only-matching --quiet --silent --no-messages --word-regexp --line-regexp --extended-regexp --fixed-strings --basic-regexp --perl-regexp --text --null --null-data --byte-offset --initial-tab --line-buffered -A= -B= -C= -m= -# --after-context= --before-context= --context= --max-count= --include= --exclude= --exclude-dir= --exclude-from=path --label= --binary-files= -D= -d= --devices= --directories= -e=pat --regexp=pat -f=pfile --file=pfile",
    ),
    (
        "rg",
        "read",
        "pattern",
        "-i -S -s -v -n -N -l -c -w -x -F -u -L -H -I -o -q -z -a -U -P -p -0 -e=pat --regexp=pat -f=pfile --file=pfile -g= --glob= --iglob= -t= --type= -T= --type-not= -A= -B= -C= -m= --max-count= --max-depth= -d= --maxdepth= --hidden --no-hidden --no-ignore --no-ignore-vcs --no-ignore-dot --no-ignore-parent --no-ignore-global --follow --files --files-with-matches --files-without-match --count --count-matches --json --vimgrep --color= --colors= --heading --no-heading --line-number --no-line-number --ignore-case --smart-case --case-sensitive --fixed-strings --word-regexp --line-regexp --only-matching --sort= --sortr= --stats --trim -r= --replace= -M= --max-columns= --max-columns-preview --type-list --null --null-data -j= --threads= --multiline --multiline-dotall --pcre2 --no-messages --passthru --column --no-column --context-separator= --field-match-separator= --pretty --debug --trace --invert-match --with-filename --no-filename --byte-offset --text --binary --search-zip -z --engine= --ignore-file=path --max-filesize= --one-file-system --block-buffered --line-buffered --no-config --path-separator= --quiet --unrestricted",
    ),
    (
        "ag",
        "read",
        "pattern",
        "-i -s -S -v -w -l -L -c -Q -a -u -U -z -G= -G= --ignore= --hidden --nocolor --color --nogroup --group --column --stats -A= -B= -C= -m= --max-count= --depth= -f --follow --literal --ignore-case --case-sensitive --smart-case --files-with-matches --count --vimgrep",
    ),
    (
        "wc",
        "read",
        "paths",
        "-l -w -c -m -L --lines --words --bytes --chars --max-line-length --files0-from=path --total=",
    ),
    ("pwd", "read", "none", "-L -P"),
    ("echo", "read", "plain", "-n -e -E"),
    ("printf", "read", "plain", ""),
    (
        "true false : sleep seq expr basename dirname yes wait groups printenv tty arch logname users",
        "read",
        "plain",
        "-a -s -z --multiple --suffix= --zero -w -f= --separator= --equal-width --format=",
    ),
    // `test` expressions: every operator is a flag, every operand a plain value.
    (
        "test [ [[",
        "read",
        "plain",
        "-a -b -c -d -e -f -g -h -k -p -r -s -t -u -w -x -G -L -N -O -S -z -n -o -v -R -eq -ne -lt -le -gt -ge -ef -nt -ot",
    ),
    ("history", "read", "plain", ""),
    (
        "date",
        "read",
        "plain",
        "-u -R -d= --date= --iso-8601? -I? --rfc-3339= --rfc-email -r=path --reference=path --utc --universal --debug",
    ),
    ("whoami nproc", "read", "none", "--all --ignore="),
    (
        "id",
        "read",
        "plain",
        "-u -g -G -n -r -a -z --user --group --groups --name --real --zero",
    ),
    (
        "uname",
        "read",
        "none",
        "-a -s -n -r -v -m -p -i -o --all --kernel-name --nodename --kernel-release --kernel-version --machine --processor --hardware-platform --operating-system",
    ),
    (
        "hostname",
        "read",
        "none",
        "-f -s -i -I -d -A -a --fqdn --long --short --ip-address --all-ip-addresses --all-fqdns --domain --alias",
    ),
    (
        "df",
        "read",
        "paths",
        "-h -H -T -i -a -l -k -P -x= -t= --output? --total --human-readable --si --local --print-type --inodes --type= --exclude-type= --all --portability --block-size= -B=",
    ),
    (
        "du",
        "read",
        "paths",
        "-s -h -a -c -d= -x -k -m -L -P -b -S -l -0 --max-depth= --summarize --human-readable --total --apparent-size --exclude= --time? --si --one-file-system --count-links --dereference --null --threshold= -t= --block-size= -B= --inodes",
    ),
    (
        "free",
        "read",
        "none",
        "-h -m -g -k -b -t -w -l -v --human --total --wide --si --lohi --committed --mega --giga --kilo --bytes -s= --seconds= -c= --count=",
    ),
    ("uptime", "read", "none", "-p -s --pretty --since"),
    (
        "ps",
        "read",
        "plain",
        "-e -f -A -a -u= -x -l -o= -p= --pid= -C= --sort= -w -H --forest -j -F -T -L -M -y --no-headers --headers -U= -G= -g= -q= --ppid= --format= --cols= --columns= --width= -N --deselect",
    ),
    (
        "pgrep",
        "read",
        "plain",
        "-a -l -f -x -i -c -n -o -u= -U= -g= -G= -P= -t= -s= --list-name --list-full --full --exact --ignore-case --count --newest --oldest -d= --delimiter=",
    ),
    (
        "which whereis type",
        "read",
        "plain",
        "-a -b -m -s -u -l -t -p -P",
    ),
    ("command", "read", "plain", "-v -V"),
    (
        "file",
        "read",
        "paths",
        "-b -i -L -z -s -k -N -E -h -0 --mime --mime-type --mime-encoding --brief --keep-going --dereference --no-dereference --uncompress --special-files --print0 -F= --separator= -e=",
    ),
    (
        "stat",
        "read",
        "paths",
        "-c= -f -L -t --format= --printf= --terse --dereference --file-system --cached=",
    ),
    (
        "tree",
        "read",
        "paths",
        "-a -d -f -i -l -L= -P= -I= -C -n -h -s -p -u -g -D -F -J -X -N -Q -r -t -v -c -U -x --noreport --dirsfirst --charset= --du --prune --filelimit= --gitignore --matchdirs --ignore-case --si --inodes --device --timefmt= --sort=",
    ),
    (
        "sort",
        "read",
        "paths",
        "-n -r -u -k= -t= -f -b -d -g -h -i -M -R -V -s -z -c -C -m --numeric-sort --reverse --unique --key= --field-separator= --ignore-case --human-numeric-sort --version-sort --stable --check? --merge --zero-terminated --general-numeric-sort --month-sort --random-sort --dictionary-order --ignore-leading-blanks --ignore-nonprinting --debug -S= --buffer-size= --parallel= -T=wpath --temporary-directory=wpath -o=wpath --output=wpath --files0-from=path",
    ),
    (
        "uniq",
        "read",
        "inout",
        "-c -d -u -i -f= -s= -w= -z -D --count --repeated --unique --ignore-case --skip-fields= --skip-chars= --check-chars= --all-repeated? --group? --zero-terminated",
    ),
    (
        "cut",
        "read",
        "paths",
        "-d= -f= -c= -b= -s -n -z --complement --output-delimiter= --delimiter= --fields= --characters= --bytes= --only-delimited --zero-terminated",
    ),
    (
        "tr",
        "read",
        "plain",
        "-d -s -c -C -t --delete --squeeze-repeats --complement --truncate-set1",
    ),
    (
        "paste",
        "read",
        "paths",
        "-d= -s -z --delimiters= --serial --zero-terminated",
    ),
    (
        "join comm",
        "read",
        "paths",
        "-1 -2 -3 -i -a= -e= -j= -o= -t= -v= --check-order --nocheck-order --output-delimiter= --ignore-case --header --total -z --zero-terminated",
    ),
    (
        "fold fmt expand unexpand rev nl column pr",
        "read",
        "paths",
        "-w= -s -b -t= -i -a -u -p -c= -n= -v= --width= --spaces --bytes --tabs= --initial --all --first-only -x -J -N= -o= -R= -O= -H= -W= -d= -l= -h= -T --table --separator= --output-separator= --table-columns= --table-right= --json --fillrows --keep-empty-lines --split-only --uniform-spacing --tagged-paragraph --crown-margin --goal= --prefix= --number-separator= --body-numbering= --header-numbering= --footer-numbering= --number-format= --number-width= --starting-line-number= --line-increment= --join-blank-lines= --section-delimiter= --no-renumber",
    ),
    (
        "diff",
        "read",
        "paths",
        "-u -U= -c -C= -r -N -q -s -w -b -B -i -y -W= -a -p -t -T -E -Z -d -e -n -I= -x= -X=path -l --brief --unified? --context? --recursive --new-file --unidirectional-new-file --ignore-all-space --ignore-space-change --ignore-blank-lines --ignore-case --ignore-file-name-case --no-ignore-file-name-case --ignore-tab-expansion --ignore-trailing-space --ignore-matching-lines= --side-by-side --width= --text --color? --exclude= --exclude-from=path --label= --strip-trailing-cr --suppress-common-lines --minimal --normal --speed-large-files --report-identical-files --show-c-function --show-function-line= --expand-tabs --initial-tab --suppress-blank-empty --left-column --no-dereference --tabsize= --from-file=path --to-file=path --starting-file= --horizon-lines= --line-format= --old-line-format= --new-line-format= --unchanged-line-format= --old-group-format= --new-group-format= --changed-group-format= --unchanged-group-format= --palette=",
    ),
    (
        "cmp",
        "read",
        "paths",
        "-l -s -b -i= -n= --verbose --quiet --silent --print-bytes --bytes= --ignore-initial=",
    ),
    (
        "jq",
        "read",
        "pattern",
        "-r -j -c -n -e -s -S -C -M -a -R -h --raw-output --raw-output0 --join-output --compact-output --null-input --exit-status --slurp --sort-keys --color-output --monochrome-output --ascii-output --tab --indent= --arg=2 --argjson=2 --slurpfile=2path --rawfile=2path --args --jsonargs --raw-input --seq --stream --stream-errors --unbuffered -f=pfile --from-file=pfile -L=path --help",
    ),
    (
        "yq",
        "read",
        "pattern",
        "-r -o= -I= -p= -e -n -C -M -P -N -j --output-format= --input-format= --prettyPrint --indent= --exit-status --null-input --unwrapScalar? --no-colors --colors --no-doc --tojson --header-preprocess? --expression=pat --from-file=pfile",
    ),
    (
        "realpath readlink",
        "read",
        "paths",
        "-f -e -m -n -s -q -z -L -P -v --canonicalize --canonicalize-existing --canonicalize-missing --no-newline --no-symlinks --strip --quiet --silent --verbose --zero --logical --physical --relative-to=path --relative-base=path",
    ),
    (
        "man",
        "read",
        "plain",
        "-k -f -a -w -W --apropos --whatis --all --where --path --location -s= --sections= -S= -M=path --manpath=path -L= --locale=",
    ),
    (
        "lscpu lsblk lsusb lspci lsmem",
        "read",
        "plain",
        "-a -b -f -l -J -o= -p -d -m -t -e? -x -y -c -n -k -v -s -D -S -P --json --output= --list --fs --all --bytes --nodeps --perms --topology --paths --raw --noheadings --extended? --parse? --online --offline --summary --tree",
    ),
    (
        "od hexdump hd",
        "read",
        "paths",
        "-A= -t= -N= -j= -v -c -x -b -d -o -s= -n= -C -L? -w? -e= --format= --address-radix= --read-bytes= --skip-bytes= --width? --output-duplicates --traditional --endian= --strings?",
    ),
    (
        "xxd",
        "read",
        "inout",
        "-c= -g= -l= -s= -p -u -b -i -e -C -n= -o= -a -E -d -ps -plain -cols= -groupsize= -len= -seek= -bits -include -autoskip -postscript -uppercase",
    ),
    (
        "strings",
        "read",
        "paths",
        "-a -n= -t= -e= -d -f -w -s= --all --bytes= --radix= --encoding= --data --print-file-name --include-all-whitespace --output-separator=",
    ),
    (
        "md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum sum shasum",
        "read",
        "paths",
        "-c -b -t -w -z -a= -r -s --check --binary --text --quiet --status --strict --warn --tag --zero --ignore-missing --algorithm= --length= -l= --untagged --base64 --raw --sysv",
    ),
    (
        "base64 base32 basenc",
        "read",
        "paths",
        "-d -i -w= --decode --ignore-garbage --wrap= --base64 --base64url --base32 --base32hex --base16 --base2msbf --base2lsbf --z85",
    ),
    (
        "cd pushd popd dirs",
        "read",
        "paths",
        "-L -P -e -@ -v -l -c -p -n",
    ),
    (
        "dig",
        "read",
        "plain",
        "-x= -t= -p= -4 -6 -c= -q= -b= -f=path -m -u",
    ),
    (
        "nslookup host",
        "read",
        "plain",
        "-t= -a -v -4 -6 -W= -R= -c= -d -C -r -s -l -T -debug -type= -query= -port= -timeout= -retry=",
    ),
    (
        "ping ping6",
        "read",
        "plain",
        "-c= -i= -W= -w= -4 -6 -q -n -s= -t= -D -O -a -v -I=",
    ),
    (
        "locate plocate mlocate",
        "read",
        "plain",
        "-i -c -l= -n= -r= -b -e -q -0 -A -w -S --regex= --regexp= --limit= --count --ignore-case --basename --wholename --existing --all --null --quiet --statistics",
    ),
    (
        "zcat bzcat xzcat zstdcat zless zmore",
        "read",
        "paths",
        "-f -q -v --force --quiet --verbose",
    ),
    (
        "bat batcat",
        "read",
        "paths",
        "-p -P -n -A -l= --language= --style= --paging= --plain --number --show-all -r= --line-range= --color= --theme= --wrap= -H= --highlight-line= --decorations= --tabs= --list-languages --list-themes --file-name= -d --diff --diff-context= --italic-text= --terminal-width= -u --unbuffered --squeeze-blank -s",
    ),
    (
        "fd fdfind",
        "read",
        "pattern",
        "-H -I -u -s -i -g -F -a -l -L -p -0 -q -1 -e= -t= -E= -d= -S= -j= -c= -o= --max-depth= --min-depth= --exact-depth= --size= --changed-within= --changed-before= --newer= --older= --hidden --no-hidden --no-ignore --no-ignore-vcs --no-ignore-parent --unrestricted --case-sensitive --ignore-case --glob --regex --fixed-strings --absolute-path --relative-path --list-details --follow --full-path --print0 --extension= --type= --exclude= --max-results= --color= --threads= --owner= --prune --quiet --show-errors --strip-cwd-prefix? --base-directory=path --search-path=path --format= --hyperlink? --no-require-git --ignore-file=path --one-file-system",
    ),
    (
        "exa eza",
        "read",
        "paths",
        "-l -a -T -L= -h -g -G -R -d -r -s= -1 -F -x -i -b -B -H -S -t= -u -U -m -@ --long --all --tree --level= --header --group --icons? --git --sort= --reverse --color? --colour? --group-directories-first --no-permissions --no-user --no-time --no-filesize --time-style= --oneline --classify? --across --grid --inode --binary --bytes --links --blocks --modified --accessed --created --changed --extended --only-dirs --only-files --ignore-glob= -I= --git-ignore --no-git --octal-permissions",
    ),
    (
        "vmstat iostat mpstat pidstat sar",
        "read",
        "plain",
        "-a -d -D -s -S= -t -w -x -k -m -y -p= -c -h -N -z -n -u -r -P= -T -f -1 --active --disk --stats --unit= --timestamp --wide --human",
    ),
    (
        "lsof",
        "read",
        "paths",
        "-n -P -t -a -l -w -U -R -b -V -i? -p= -u= -c= -s? -g= -d= +D=path +d=path",
    ),
    (
        "ss",
        "read",
        "plain",
        "-t -u -l -n -p -a -x -w -s -e -m -o -i -r -4 -6 -H -O -E -Z -z -N= -f= -A= --tcp --udp --listening --numeric --processes --all --summary --extended --memory --options --info --resolve --ipv4 --ipv6 --no-header --oneline --unix --raw --family= --query= --socket=",
    ),
    (
        "netstat",
        "read",
        "none",
        "-t -u -l -n -p -a -r -i -s -e -c -W -x -4 -6 -g -o -N -v --tcp --udp --listening --numeric --program --all --route --interfaces --statistics --extend --continuous --wide --unix --groups --timers",
    ),
    (
        "journalctl",
        "read",
        "plain",
        "-u= --unit= -f --follow -n= --lines= --since= --until= -S= -U= -b? --boot? -p= --priority= -o= --output= --no-pager -r --reverse -k --dmesg -x --catalog -e --pager-end -a --all --user --system -g= --grep= --case-sensitive? --utc -q --quiet --no-hostname --list-boots -t= --identifier= --output-fields= --no-full -l --full -m --merge -D=path --directory=path --file=path --disk-usage --header --field= -F= --user-unit= --facility= --show-cursor --cursor= --after-cursor=",
    ),
    ("crontab", "read", "none", "-l -u="),
    ("env", "read", "none", "-0 --null"),
    (
        "set",
        "read",
        "plain",
        "-e -u -x -v -o= +e +u +x +v +o= -E -T -C -f -h -B -n -a +a -m +m",
    ),
    ("export", "read", "plain", "-p -n -f"),
    // Writers (undoable).
    (
        "mkdir",
        "write",
        "wpaths",
        "-p -v -m= --parents --mode= --verbose -Z --context?",
    ),
    (
        "touch",
        "write",
        "wpaths",
        "-a -c -m -h -f -d= -t= -r=path --date= --no-create --no-dereference --reference=path --time=",
    ),
    (
        "cp",
        "write",
        "copy",
        "-r -R -a -f -i -n -p -v -u -l -s -L -P -H -d -x -T -b --recursive --archive --force --interactive --no-clobber --preserve? --no-preserve= --verbose --update? --parents --no-target-directory --backup? --suffix= -S= --reflink? --sparse= --remove-destination --strip-trailing-slashes --attributes-only --no-dereference --dereference --one-file-system --debug --keep-directory-symlink -t=wpath --target-directory=wpath",
    ),
    (
        "mv",
        "write",
        "wpaths",
        "-f -i -n -v -u -b -T --force --interactive --no-clobber --verbose --update? --backup? --suffix= -S= --no-target-directory --strip-trailing-slashes --exchange --no-copy --debug -t=wpath --target-directory=wpath",
    ),
    (
        "ln",
        "write",
        "copy",
        "-s -f -n -r -v -T -b -L -P -i --symbolic --force --relative --no-dereference --no-target-directory --verbose --backup? --suffix= --interactive --logical --physical -t=wpath --target-directory=wpath",
    ),
    (
        "rmdir",
        "write",
        "wpaths",
        "-p -v --parents --verbose --ignore-fail-on-non-empty",
    ),
    (
        "tee",
        "write",
        "wpaths",
        "-a -i -p --append --ignore-interrupts --output-error?",
    ),
    (
        "chmod chown chgrp",
        "write",
        "wpaths",
        "-R -v -c -f -h -H -L -P --recursive --verbose --changes --silent --quiet --reference=path --no-dereference --dereference --preserve-root --from=",
    ),
    (
        "tar",
        "write",
        "paths",
        "-c -x -t -z -j -J -v -f=path -C=wpath -p -k -O -a -h -m -r -u --create --extract --get --list --append --update --gzip --gunzip --bzip2 --xz --lzma --zstd --auto-compress --verbose --file=path --directory=wpath --exclude= --exclude-from=path --exclude-vcs --exclude-vcs-ignores --strip-components= --keep-old-files --keep-newer-files --skip-old-files --no-same-owner --no-same-permissions --same-permissions --preserve-permissions --wildcards --no-wildcards --overwrite --to-stdout --transform= --xform= --dereference --touch --sort= --owner= --group= --mode= --mtime= --numeric-owner --one-file-system --totals? --show-transformed-names --format= -H= --null -T=path --files-from=path --anchored --no-anchored --ignore-case --no-recursion --recursion",
    ),
    (
        "gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 unlz4",
        "write",
        "wpaths",
        "-d -k -f -v -c -t -l -q -r -n -N -T= -# --decompress --uncompress --keep --force --stdout --to-stdout --test --list --verbose --quiet --recursive --best --fast --no-name --name --threads= --suffix= -S= --rm",
    ),
    (
        "zip",
        "write",
        "wpaths",
        "-r -q -v -j -u -f -y -D -X -0 -1 -2 -3 -4 -5 -6 -7 -8 -9 -x= -i= --recurse-paths --quiet --junk-paths --exclude= --include= --symlinks",
    ),
    (
        "unzip",
        "write",
        "paths",
        "-l -v -t -q -qq -o -n -j -Z -p -c -C -L -a -d=wpath -x=",
    ),
    (
        "patch",
        "write",
        "paths",
        "-p= -i=path -N -R -s -f -b -u -E -t -l --strip= --dry-run --forward --reverse --input=path -d=wpath --directory=wpath -o=wpath --output=wpath --silent --quiet --batch --backup --binary --ignore-whitespace --remove-empty-files --no-backup-if-mismatch --reject-file=wpath -r=wpath --merge?",
    ),
    (
        "sed",
        "read",
        "pattern",
        "-n -E -r -s -u -z --quiet --silent --regexp-extended --separate --unbuffered --null-data --posix --debug --sandbox -e=pat --expression=pat -f=pfile --file=pfile -l= --line-length=",
    ),
    (
        "awk gawk mawk nawk",
        "read",
        "pattern",
        "-F= -v= --field-separator= --assign= -f=pfile --file=pfile --posix --traditional -P -c -S --sandbox --re-interval --characters-as-bytes -b --bignum -M",
    ),
    ("find", "read", "paths", "-P -H -L -O= -D="),
    // curl and wget read from the network; writing files makes them writers; sending data out is
    // not listed (destructive).
    (
        "curl",
        "read",
        "plain",
        "-s -S -L -f -I -i -k -v -G -g -N -q -4 -6 -j -J -R -Z -H= -A= -m= -w= -x= -r= -e= -b=path -o=wpath -O -D=wpath -c=wpath -y= -Y= -z= -C= --silent --show-error --location --location-trusted --fail --fail-with-body --fail-early --head --include --insecure --verbose --get --globoff --no-buffer --http1.0 --http1.1 --http2 --http2-prior-knowledge --http3 --compressed --header= --user-agent= --max-time= --connect-timeout= --retry= --retry-delay= --retry-max-time= --retry-all-errors --retry-connrefused --write-out= --proxy= --noproxy= --range= --referer= --cookie=path --output=wpath --remote-name --remote-name-all --remote-header-name --remote-time --dump-header=wpath --cookie-jar=wpath --create-dirs --output-dir=wpath --no-progress-meter --progress-bar -# --resolve= --connect-to= --cacert=path --capath=path --url= --max-redirs= --max-filesize= --limit-rate= --speed-limit= --speed-time= --ipv4 --ipv6 --ssl-reqd --tlsv1.2 --tlsv1.3 --tls-max= --trace-ascii=wpath --trace=wpath --stderr=wpath --styled-output --no-styled-output --keepalive-time= --no-keepalive --path-as-is --raw --tr-encoding --time-cond= --etag-save=wpath --etag-compare=path --continue-at= --parallel --parallel-max= -Z",
    ),
    (
        "wget",
        "read",
        "plain",
        "-q -nv -S -c -N -4 -6 -nc -nd -np -O=wpath -P=wpath -o=wpath -a=wpath -t= -T= -U= -w= --quiet --no-verbose --server-response --spider --tries= --timeout= --connect-timeout= --read-timeout= --dns-timeout= --header= --user-agent= --no-check-certificate --continue --timestamping --no-clobber --output-document=wpath --directory-prefix=wpath --output-file=wpath --append-output=wpath --max-redirect= --wait= --limit-rate= --inet4-only --inet6-only --no-directories --no-parent --show-progress --progress= --ca-certificate=path --ca-directory=path --content-disposition --content-on-error --no-cache --no-cookies --compression= --https-only --retry-connrefused",
    ),
    // git: global options, then each subcommand.
    (
        "git",
        "read",
        "none",
        "-C=path --no-pager -P -p --paginate --git-dir=path --work-tree=path --bare --no-replace-objects --literal-pathspecs --glob-pathspecs --noglob-pathspecs --icase-pathspecs --no-optional-locks --namespace= --no-advice --version --help",
    ),
    (
        "git status",
        "read",
        "plain",
        "-s -b -u? -z -v --short --branch --porcelain? --long --verbose --untracked-files? --ignored? --ignore-submodules? --column? --no-column --ahead-behind --no-ahead-behind --renames --no-renames --find-renames? --show-stash",
    ),
    (
        "git log git show git whatchanged git rev-list git diff git diff-tree git diff-index git diff-files git shortlog git stash list git stash show git reflog show",
        "read",
        "plain",
        GIT_LOG,
    ),
    ("git reflog", "read", "none", ""),
    (
        "git grep",
        "read",
        "plain",
        "-i -v -n -l -L -c -h -H -w -E -F -G -P -I -q -r -W -p -o -z -a -e=pat -f=path --and --or --not --all-match --quiet --cached --untracked --no-recursive --recursive --max-depth= -A= -B= -C= -# --show-function --function-context --color? --no-color --only-matching --name-only --files-with-matches --files-without-match --count --heading --break --line-number --column --full-name --ignore-case --word-regexp --extended-regexp --fixed-strings --perl-regexp --basic-regexp --null --text --threads= -m= --max-count= --recurse-submodules --exclude-standard --no-exclude-standard --invert-match --no-textconv",
    ),
    (
        "git ls-files",
        "read",
        "plain",
        "-c -d -m -o -i -s -u -k -z -t -v -f --cached --deleted --modified --others --ignored --stage --unmerged --killed --exclude= -x= --exclude-standard --exclude-from=path -X=path --exclude-per-directory= --error-unmatch --full-name --abbrev? --debug --eol --directory --no-empty-directory --recurse-submodules --deduplicate --format= --sparse",
    ),
    (
        "git rev-parse",
        "read",
        "plain",
        "--short? --abbrev-ref? --verify -q --quiet --show-toplevel --git-dir --show-prefix --show-cdup --is-inside-work-tree --is-inside-git-dir --is-bare-repository --is-shallow-repository --symbolic-full-name --symbolic --all --branches? --tags? --remotes? --git-common-dir --absolute-git-dir --show-superproject-working-tree --show-object-format? --sq --default= --git-path= --local-env-vars --revs-only --no-revs --flags --no-flags --path-format=",
    ),
    (
        "git describe",
        "read",
        "plain",
        "--tags --all --always --long --abbrev= --dirty? --broken? --match= --exclude= --exact-match --contains --first-parent --candidates=",
    ),
    (
        "git blame git annotate",
        "read",
        "plain",
        "-L= -e -w -s -l -t -n -f -p -c -b --porcelain --line-porcelain --incremental --root --show-stats --date= --show-name --show-number --show-email -M? -C? --since= --color-lines --color-by-age --ignore-rev= --ignore-revs-file=path --abbrev= --reverse= --first-parent --progress --no-progress --minimal --score-debug --encoding= --contents=path",
    ),
    (
        "git cat-file",
        "read",
        "plain",
        "-p -t -s -e --batch? --batch-check? --batch-all-objects --follow-symlinks --buffer --unordered -Z --allow-unknown-type --use-mailmap --no-use-mailmap",
    ),
    (
        "git ls-remote",
        "read",
        "plain",
        "--heads --tags --refs -q --quiet --exit-code --get-url --sort= --symref -b --branches -t",
    ),
    (
        "git ls-tree",
        "read",
        "plain",
        "-r -t -d -l -z --long --name-only --name-status --full-name --full-tree --abbrev? --format= --object-only",
    ),
    (
        "git for-each-ref",
        "read",
        "plain",
        "--format= --sort= --count= --points-at= --merged? --no-merged? --contains? --no-contains? --shell --python --perl --tcl --ignore-case --omit-empty --exclude=",
    ),
    (
        "git show-ref",
        "read",
        "plain",
        "--heads --tags --head -d --dereference -s --hash? --verify --abbrev? -q --quiet --exists --branches --exclude-existing?",
    ),
    (
        "git merge-base",
        "read",
        "plain",
        "--all --octopus --is-ancestor --independent --fork-point",
    ),
    (
        "git name-rev",
        "read",
        "plain",
        "--tags --refs= --exclude= --all --name-only --no-undefined --always --annotate-stdin",
    ),
    (
        "git count-objects",
        "read",
        "none",
        "-v -H --verbose --human-readable",
    ),
    (
        "git check-ignore git check-attr",
        "read",
        "plain",
        "-q -v -n -a -z --quiet --verbose --non-matching --all --no-index --cached",
    ),
    (
        "git show-branch",
        "read",
        "plain",
        "-a -r --all --remotes --current --topo-order --date-order --sparse --more= --list --merge-base --independent --no-name --sha1-name --topics",
    ),
    (
        "git version git help",
        "read",
        "plain",
        "-a -g --all --guides --build-options",
    ),
    (
        "git branch",
        "read",
        "list",
        "-a -r -v -vv -l! --list! --all --remotes --verbose --merged? --no-merged? --contains? --no-contains? --sort= --format= --color? --no-color --column? --no-column --show-current --points-at= -i --ignore-case --abbrev= --no-abbrev -q --quiet",
    ),
    (
        "git tag",
        "read",
        "list",
        "-l! --list! -n? --sort= --contains? --no-contains? --points-at= --merged? --no-merged? --format= --column? --no-column -i --ignore-case -a -m= -F=path --annotate --message= --file=path -s --sign -v --verify --cleanup= --create-reflog",
    ),
    ("git remote", "read", "none", "-v --verbose"),
    (
        "git remote show git remote get-url",
        "read",
        "plain",
        "-n --push --all",
    ),
    (
        "git config",
        "read",
        "list",
        "--get! --get-all! --get-regexp! -l! --list! --get-urlmatch! --get-color! --get-colorbool! --show-origin --show-scope --global --local --system --worktree -f=path --file=path -z --null --name-only --type= --default= --bool --int --path --includes --no-includes --add --replace-all --fixed-value",
    ),
    (
        "git stash",
        "write",
        "plain",
        "-m= --message= -u --include-untracked -k --keep-index --no-keep-index -q --quiet -a --all --staged -S",
    ),
    (
        "git stash push git stash save git stash pop git stash apply git stash branch git stash create git stash store",
        "write",
        "plain",
        "-m= --message= -u --include-untracked -k --keep-index --no-keep-index -q --quiet -a --all --index --staged -S",
    ),
    (
        "git worktree list",
        "read",
        "none",
        "--porcelain -v --verbose -z --expire=",
    ),
    (
        "git worktree add",
        "write",
        "plain",
        "-b= -B= --detach -f --force --checkout --no-checkout --lock --reason= -q --quiet --track --no-track --guess-remote --orphan",
    ),
    ("git submodule", "read", "none", "-q --quiet"),
    (
        "git submodule status git submodule summary",
        "read",
        "plain",
        "--cached --recursive -n= --summary-limit= --files -q --quiet",
    ),
    (
        "git submodule update git submodule init git submodule sync",
        "write",
        "plain",
        "--init --recursive --remote --depth= -q --quiet --checkout --rebase --merge --no-fetch -N --single-branch --no-single-branch --recommend-shallow --no-recommend-shallow --jobs= -j= --filter=",
    ),
    ("git notes list git notes show", "read", "plain", "--ref="),
    (
        "git fsck git verify-commit git verify-tag git var git check-ref-format git get-tar-commit-id git fmt-merge-msg git rerere status git rerere diff git cherry git range-diff git merge-tree git diff-pairs",
        "read",
        "plain",
        "-v --raw --full --strict --unreachable --dangling --no-dangling --connectivity-only --name-objects --no-progress --progress --tags --no-reflogs --branch --normalize --allow-onelevel --refspec-pattern --creation-factor= --no-dual-color --name-only --messages --no-messages",
    ),
    (
        "git add",
        "write",
        "plain",
        "-A -u -f -n -v -N --all --update --force --dry-run --verbose --intent-to-add --ignore-errors --ignore-removal --no-all --renormalize --chmod= --sparse --ignore-missing --refresh --pathspec-from-file=path --pathspec-file-nul",
    ),
    (
        "git commit",
        "write",
        "plain",
        "-m= --message= -a --all --amend --no-edit -s --signoff --no-signoff -q --quiet -v --verbose --allow-empty --allow-empty-message --author= --date= -F=path --file=path --fixup= --squash= -n --no-verify --verify --only -o -i --include --dry-run --short --branch --porcelain --long -S? --gpg-sign? --no-gpg-sign --reset-author --cleanup= --untracked-files? -u? --no-status --status --trailer= -C= --reuse-message= --pathspec-from-file=path --pathspec-file-nul -z --null",
    ),
    (
        "git fetch git pull",
        "write",
        "plain",
        "--all --prune -p --tags -t --no-tags --depth= --deepen= --shallow-since= --shallow-exclude= --unshallow --rebase? -r --ff-only --no-ff --ff --no-rebase -q --quiet -v --verbose --dry-run --set-upstream --no-recurse-submodules --recurse-submodules? --jobs= -j= --autostash --no-autostash --prefetch --atomic --append -a --multiple --prune-tags -P --refetch --refmap= --filter= --no-show-forced-updates --show-forced-updates --stat --no-stat -n --no-commit --commit --squash --no-squash --no-edit --edit --signoff --no-signoff --strategy= -s= -X= --strategy-option= --verify --no-verify --verify-signatures --no-verify-signatures --allow-unrelated-histories --update-shallow --negotiation-tip= --porcelain -4 -6 --ipv4 --ipv6 -f --force -k --keep",
    ),
    (
        "git checkout git switch",
        "write",
        "plain",
        "-b= -B= -c= -C= --create= --force-create= --track? -t --no-track -q --quiet --detach -d --orphan= -m --merge --guess --no-guess --conflict= --progress --no-progress --recurse-submodules --no-recurse-submodules --overlay --no-overlay --ignore-other-worktrees",
    ),
    (
        "git restore",
        "write",
        "plain",
        "-s= --source= -S --staged -W --worktree -q --quiet --progress --no-progress --ignore-unmerged --overlay --no-overlay --conflict= -m --merge --pathspec-from-file=path --pathspec-file-nul",
    ),
    (
        "git merge",
        "write",
        "plain",
        "--no-ff --ff-only --ff --squash --no-squash --no-commit --commit -m= --message= -F=path --file=path --abort --continue --quit --no-edit --edit -e -q --quiet -v --verbose --allow-unrelated-histories --no-verify --verify --log? --no-log --stat --no-stat -n --summary --no-summary --signoff --no-signoff --autostash --no-autostash --rerere-autoupdate --no-rerere-autoupdate --into-name= --cleanup= --progress --no-progress --verify-signatures --no-verify-signatures",
    ),
    (
        "git rebase",
        "write",
        "plain",
        "--continue --abort --skip --quit --onto= --autosquash --no-autosquash --autostash --no-autostash -q --quiet -v --verbose --stat -n --no-stat --root --keep-base --update-refs --no-update-refs --fork-point --no-fork-point --ignore-date --committer-date-is-author-date --reset-author-date --signoff --rerere-autoupdate --no-rerere-autoupdate --empty= --keep-empty --no-keep-empty --reapply-cherry-picks --no-reapply-cherry-picks --allow-empty-message --rebase-merges? --no-rebase-merges --apply --merge -m --whitespace= -C= --no-verify --verify",
    ),
    (
        "git cherry-pick git revert",
        "write",
        "plain",
        "-n --no-commit -x -m= --mainline= -s --signoff --continue --abort --skip --quit --ff --allow-empty --allow-empty-message --keep-redundant-commits --empty= --no-edit --edit --cleanup= --rerere-autoupdate --no-rerere-autoupdate --strategy= -X= --strategy-option= --reference",
    ),
    (
        "git push",
        "write",
        "plain",
        "-u --set-upstream --tags --follow-tags --no-follow-tags -q --quiet -v --verbose --dry-run -n --no-verify --verify --atomic --no-atomic --porcelain --progress --no-progress --recurse-submodules? --no-recurse-submodules -4 -6 --ipv4 --ipv6 --signed? --no-signed -o= --push-option=",
    ),
    (
        "git init",
        "write",
        "plain",
        "--bare -q --quiet --initial-branch= -b= --object-format= --ref-format= --shared?",
    ),
    (
        "git clone",
        "write",
        "plain",
        "--depth= --branch= -b= --single-branch --no-single-branch --no-tags --tags --recurse-submodules? --recursive? --shallow-submodules --no-shallow-submodules -q --quiet -v --verbose --progress --bare --mirror --origin= -o= --filter= --sparse --no-checkout -n --shallow-since= --shallow-exclude= --also-filter-submodules --remote-submodules --no-remote-submodules --jobs= -j= --reject-shallow --no-reject-shallow --revision= --bundle-uri= -4 -6 --ipv4 --ipv6 --no-hardlinks -l --local --dissociate",
    ),
    (
        "git mv",
        "write",
        "plain",
        "-f -k -n -v --force --dry-run --verbose --sparse",
    ),
    (
        "git reset",
        "write",
        "plain",
        "--soft --mixed -q --quiet -N --intent-to-add --no-refresh --refresh --pathspec-from-file=path --pathspec-file-nul --recurse-submodules? --no-recurse-submodules",
    ),
    (
        "git remote add git remote set-url git remote rename git remote set-head git remote set-branches git remote update git remote prune",
        "write",
        "plain",
        "-f -t= -m= --tags --no-tags --add --push --delete? -a --auto -d --dry-run -n -p --prune --no-progress --progress",
    ),
    (
        "git apply",
        "write",
        "plain",
        "--check --stat --numstat --summary --index --cached --intent-to-add -N -3 --3way --ours --theirs --union -R --reverse -p= -C= --unidiff-zero --apply --no-add --allow-binary-replacement --binary --exclude= --include= --ignore-space-change --ignore-whitespace --whitespace= --inaccurate-eof -v --verbose -q --quiet --recount --directory= --unsafe-paths? --allow-empty --reject",
    ),
    (
        "git am",
        "write",
        "plain",
        "-3 --3way --no-3way -s --signoff -k --keep --keep-non-patch --keep-cr --no-keep-cr -c --scissors --no-scissors -q --quiet -u --utf8 --no-utf8 --continue --abort --skip --quit --resolved -r --show-current-patch? --ignore-space-change --ignore-whitespace --whitespace= -C= -p= --directory= --exclude= --include= --reject --patch-format= --committer-date-is-author-date --ignore-date --no-verify --empty= --message-id -m --no-message-id",
    ),
    // kubectl (and oc, which takes the same words).
    ("kubectl oc", "read", "none", KUBE_GLOBAL),
    (
        "kubectl get oc get kubectl describe oc describe",
        "read",
        "plain",
        KUBE_SELECT,
    ),
    (
        "kubectl logs oc logs",
        "read",
        "plain",
        "-f --follow -c= --container= --all-containers? --all-pods? --tail= --since= --since-time= --timestamps? -p --previous? --prefix? -l= --selector= --max-log-requests= --limit-bytes= --pod-running-timeout= --ignore-errors --insecure-skip-tls-verify-backend",
    ),
    (
        "kubectl top oc adm top",
        "read",
        "plain",
        "--containers --sort-by= -l= --selector= --field-selector= --no-headers --use-protocol-buffers --sum? --show-capacity",
    ),
    (
        "kubectl explain oc explain",
        "read",
        "plain",
        "--recursive --api-version= --output= -o=",
    ),
    (
        "kubectl version oc version",
        "read",
        "none",
        "--client --output= -o= --short",
    ),
    (
        "kubectl api-resources kubectl api-versions oc api-resources oc api-versions",
        "read",
        "none",
        "--namespaced? -o= --output= --api-group= --verbs= --sort-by= --no-headers --cached --categories=",
    ),
    ("kubectl cluster-info oc cluster-info", "read", "none", ""),
    (
        "kubectl events oc events",
        "read",
        "plain",
        "--for= --types= -w --watch -o= --output= --no-headers --chunk-size=",
    ),
    (
        "kubectl auth can-i oc auth can-i",
        "read",
        "plain",
        "--list --quiet -q --subresource= --no-headers",
    ),
    (
        "kubectl auth whoami oc whoami",
        "read",
        "none",
        "-o= --output=",
    ),
    (
        "kubectl diff oc diff",
        "read",
        "plain",
        "-f=path --filename=path -k=path --kustomize=path -R --recursive --server-side --field-manager= --force-conflicts -l= --selector= --concurrency=",
    ),
    (
        "kubectl rollout status kubectl rollout history oc rollout status oc rollout history",
        "read",
        "plain",
        "-w --watch --revision= --timeout= -o= --output= -f=path --filename=path -l= --selector= -R --recursive",
    ),
    (
        "kubectl config view kubectl config get-contexts kubectl config current-context kubectl config get-clusters kubectl config get-users",
        "read",
        "plain",
        "--minify -o= --output= --no-headers --template=",
    ),
    (
        "kubectl apply kubectl create kubectl label kubectl annotate kubectl patch kubectl set image kubectl set env kubectl set resources kubectl set selector kubectl set serviceaccount kubectl expose kubectl autoscale kubectl cordon kubectl uncordon kubectl port-forward kubectl rollout pause kubectl rollout resume oc apply oc create oc label oc annotate oc patch",
        "write",
        "plain",
        KUBE_APPLY,
    ),
    (
        "kubectl scale oc scale",
        "write",
        "plain",
        "--replicas= --current-replicas= --resource-version= --timeout= --dry-run? -o= --output= \
--template= --show-managed-fields --allow-missing-template-keys?",
    ),
    (
        "kubectl rollout restart kubectl rollout undo oc rollout restart oc rollout undo",
        "write",
        "plain",
        "--to-revision= --dry-run? -o= --output= --template= --field-manager= \
--show-managed-fields --allow-missing-template-keys?",
    ),
    // helm.
    ("helm", "read", "none", HELM_GLOBAL),
    (
        "helm list helm ls helm status helm get helm get all helm get values helm get manifest helm get notes helm get hooks helm get metadata helm history helm hist helm show helm show all helm show chart helm show readme helm show values helm show crds helm search helm search repo helm search hub helm template helm lint helm version helm env helm repo list helm plugin list helm dependency list helm dep list",
        "read",
        "plain",
        HELM_READ,
    ),
    (
        "helm install helm upgrade helm repo add helm repo update helm dependency update helm dependency build helm dep update helm dep build helm pull helm package",
        "write",
        "plain",
        HELM_READ,
    ),
    // terraform and tofu.
    (
        "terraform tofu",
        "read",
        "none",
        "-chdir=path -version -help",
    ),
    (
        "terraform plan terraform show terraform validate terraform output terraform version terraform providers terraform graph terraform state list terraform state show terraform workspace show terraform workspace list tofu plan tofu show tofu validate tofu output tofu version tofu providers tofu graph tofu state list tofu state show",
        "read",
        "plain",
        TF,
    ),
    ("terraform fmt tofu fmt", "write", "plain", TF),
    (
        "terraform init terraform get tofu init tofu get",
        "write",
        "plain",
        "-no-color -input= -lock= -lock-timeout= -upgrade -backend= -backend-config= -reconfigure -migrate-state -force-copy -get= -lockfile= -plugin-dir=path -from-module= -json -update",
    ),
    // docker and podman.
    ("docker podman", "read", "none", DOCKER_GLOBAL),
    (
        "docker ps podman ps docker container ls podman container ls",
        "read",
        "none",
        "-a -q -s -l -n= --all --quiet --filter= -f= --format= --last= --latest --no-trunc --size",
    ),
    (
        "docker images podman images docker image ls podman image ls",
        "read",
        "plain",
        "-a -q --all --quiet --filter= -f= --format= --no-trunc --digests --tree",
    ),
    (
        "docker logs podman logs docker container logs",
        "read",
        "plain",
        "-f --follow --tail= -n= --since= --until= -t --timestamps --details",
    ),
    (
        "docker inspect podman inspect docker image inspect docker container inspect docker network inspect docker volume inspect",
        "read",
        "plain",
        "-f= --format= -s --size --type=",
    ),
    (
        "docker version podman version docker info podman info",
        "read",
        "none",
        "-f= --format=",
    ),
    (
        "docker stats podman stats",
        "read",
        "plain",
        "--no-stream -a --all --format= --no-trunc",
    ),
    (
        "docker top podman top docker port podman port docker diff docker history podman history docker image history",
        "read",
        "plain",
        "-H --human --no-trunc -q --quiet --format=",
    ),
    (
        "docker network ls docker volume ls podman network ls podman volume ls",
        "read",
        "none",
        "-q --quiet --filter= -f= --format= --no-trunc",
    ),
    (
        "docker compose ps docker compose logs docker compose config docker compose images docker compose ls",
        "read",
        "plain",
        "-a --all -q --quiet --services --format= -f --follow --tail= -n= --since= -t --timestamps --no-color --no-log-prefix --status= --filter=",
    ),
    // systemd.
    ("systemctl", "read", "none", SYSTEMD),
    (
        "systemctl status systemctl show systemctl list-units systemctl list-unit-files systemctl list-timers systemctl list-sockets systemctl list-dependencies systemctl is-active systemctl is-enabled systemctl is-failed systemctl cat systemctl get-default systemctl list-jobs systemctl list-machines",
        "read",
        "plain",
        SYSTEMD,
    ),
];

/// Environment assignments that change nothing a command runs: locale, time zone, terminal and
/// colour settings. Any other (`GIT_SSH_COMMAND`, `LESSOPEN`, `LD_PRELOAD`, `PAGER`, `BASH_ENV`)
/// may make a program run another, so it makes the command `destructive`.
pub const SAFE_ENV: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_COLLATE",
    "LC_MESSAGES",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_MONETARY",
    "TZ",
    "TERM",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    "COLUMNS",
    "LINES",
    "GIT_PAGER_IN_USE",
    "GIT_TERMINAL_PROMPT",
    "GIT_OPTIONAL_LOCKS",
    "AWS_PAGER",
    "AWS_DEFAULT_OUTPUT",
    "SYSTEMD_PAGER",
];
