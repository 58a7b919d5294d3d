# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kith_global_optspecs
    string join \n home= h/help V/version
end

function __fish_kith_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kith_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kith_using_subcommand
    set -l cmd (__fish_kith_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kith -n "__fish_kith_needs_command" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_needs_command" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_needs_command" -s V -l version -d 'Print version'
complete -c kith -n "__fish_kith_needs_command" -f -a "init" -d 'Create this home\'s identity (an Ed25519 key) and print the new peer ID'
complete -c kith -n "__fish_kith_needs_command" -f -a "id" -d 'Print this home\'s peer ID'
complete -c kith -n "__fish_kith_needs_command" -f -a "serve" -d 'Run the node in the foreground until Ctrl-C or SIGTERM'
complete -c kith -n "__fish_kith_needs_command" -f -a "start" -d 'Start the node in the background unless one runs (exit 0 once it answers)'
complete -c kith -n "__fish_kith_needs_command" -f -a "stop" -d 'Stop the running node'
complete -c kith -n "__fish_kith_needs_command" -f -a "status" -d 'Show the running node\'s state (exit 3 when none runs)'
complete -c kith -n "__fish_kith_needs_command" -f -a "invite" -d 'Make a one-time invite link for a friend'
complete -c kith -n "__fish_kith_needs_command" -f -a "accept" -d 'Accept a friend\'s invite link'
complete -c kith -n "__fish_kith_needs_command" -f -a "friends" -d 'List friends'
complete -c kith -n "__fish_kith_needs_command" -f -a "unfriend" -d 'Remove a friend (full ID, unique prefix or name)'
complete -c kith -n "__fish_kith_needs_command" -f -a "share" -d 'Share files or folders with friends as a new album; prints its ID'
complete -c kith -n "__fish_kith_needs_command" -f -a "albums" -d 'List albums shared with me and by me'
complete -c kith -n "__fish_kith_needs_command" -f -a "album" -d 'List the files of one album'
complete -c kith -n "__fish_kith_needs_command" -f -a "comment" -d 'Comment on an album or an item (prints the comment\'s ID), or change a comment'
complete -c kith -n "__fish_kith_needs_command" -f -a "comments" -d 'List the comments on an album (all of them) or on one item'
complete -c kith -n "__fish_kith_needs_command" -f -a "verify" -d 'Mark that you compared the safety number with a friend (full ID, prefix or name)'
complete -c kith -n "__fish_kith_needs_command" -f -a "unshare" -d 'Stop sharing an album of mine'
complete -c kith -n "__fish_kith_needs_command" -f -a "transfers" -d 'List fetches under way or waiting to resume'
complete -c kith -n "__fish_kith_needs_command" -f -a "audience" -d 'Add or remove members of an album of mine, or retitle it'
complete -c kith -n "__fish_kith_needs_command" -f -a "settings" -d 'Show or change settings (rate limits, in bytes per second; 500K, 2M; 0 for none)'
complete -c kith -n "__fish_kith_needs_command" -f -a "fetch" -d 'Download an album (or one item of it) shared with me'
complete -c kith -n "__fish_kith_needs_command" -f -a "identity" -d 'Move an identity and its friends to another computer'
complete -c kith -n "__fish_kith_needs_command" -f -a "install" -d 'Register Kith with Firefox and the Chromium-family browsers for this user'
complete -c kith -n "__fish_kith_needs_command" -f -a "uninstall" -d 'Undo `install`: remove the registrations and the login entry, and stop the node'
complete -c kith -n "__fish_kith_needs_command" -f -a "logs" -d 'Show the end of the log of the node started in the background'
complete -c kith -n "__fish_kith_needs_command" -f -a "doctor" -d 'Explain what is wrong with this installation'
complete -c kith -n "__fish_kith_needs_command" -f -a "demo" -d 'Start two local nodes in a temporary home, befriend them and show the handshake'
complete -c kith -n "__fish_kith_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kith -n "__fish_kith_using_subcommand init" -l name -d 'Your name, as friends will see it' -r
complete -c kith -n "__fish_kith_using_subcommand init" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand init" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand init" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand id" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand id" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand serve" -l listen -d 'Address to listen on, IP:PORT or an IP alone for the port chosen at init (default: all interfaces, the port chosen at init)' -r
complete -c kith -n "__fish_kith_using_subcommand serve" -l rate -d 'Limit uploads and downloads to this many bytes per second (500K, 2M; 0: none)' -r
complete -c kith -n "__fish_kith_using_subcommand serve" -l upload-rate -d 'Limit uploads (overrides --rate and the saved setting for this run)' -r
complete -c kith -n "__fish_kith_using_subcommand serve" -l download-rate -d 'Limit downloads (overrides --rate and the saved setting for this run)' -r
complete -c kith -n "__fish_kith_using_subcommand serve" -l log-file -d 'Log to this file, rotated at 10 MiB (set by `kith start`; default: stderr)' -r -F
complete -c kith -n "__fish_kith_using_subcommand serve" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand serve" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand start" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand start" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand stop" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand stop" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand status" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand status" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand status" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand invite" -l days -d 'Days the invite stays valid (default 7, at most 30)' -r
complete -c kith -n "__fish_kith_using_subcommand invite" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand invite" -l qr -d 'Also draw it as a QR code'
complete -c kith -n "__fish_kith_using_subcommand invite" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand invite" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand accept" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand accept" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand accept" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand friends" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand friends" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand friends" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand unfriend" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand unfriend" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand unfriend" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand share" -l to -d 'A friend to share with (repeat for several); all friends when none is named' -r
complete -c kith -n "__fish_kith_using_subcommand share" -l title -d 'Album title' -r
complete -c kith -n "__fish_kith_using_subcommand share" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand share" -l keep-location -d 'Share photos and videos with their location (by default it is removed, and a file whose location cannot be removed stops the share with `location_kept`)'
complete -c kith -n "__fish_kith_using_subcommand share" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand share" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand albums" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand albums" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand albums" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand album" -l offset -d 'First file to list' -r
complete -c kith -n "__fish_kith_using_subcommand album" -l limit -d 'Most files to list (at most 1000)' -r
complete -c kith -n "__fish_kith_using_subcommand album" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand album" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand album" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand comment" -l react -d 'React with one of ❤️ 👍 😂 😮 😢 🎉 instead of writing' -r
complete -c kith -n "__fish_kith_using_subcommand comment" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand comment" -l edit -d 'Replace the text of my comment ID'
complete -c kith -n "__fish_kith_using_subcommand comment" -l delete -d 'Delete my comment (or take back my reaction) ID'
complete -c kith -n "__fish_kith_using_subcommand comment" -l hide -d 'Hide comment ID on an album of mine'
complete -c kith -n "__fish_kith_using_subcommand comment" -l unhide -d 'Show hidden comment ID again'
complete -c kith -n "__fish_kith_using_subcommand comment" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand comment" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand comments" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand comments" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand comments" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand verify" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand verify" -l undo -d 'Take the mark back'
complete -c kith -n "__fish_kith_using_subcommand verify" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand verify" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand unshare" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand unshare" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand unshare" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand transfers" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand transfers" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand transfers" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand audience" -l add -d 'A friend to add (repeat for several)' -r
complete -c kith -n "__fish_kith_using_subcommand audience" -l remove -d 'A member to remove (repeat for several)' -r
complete -c kith -n "__fish_kith_using_subcommand audience" -l title -d 'A new title' -r
complete -c kith -n "__fish_kith_using_subcommand audience" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand audience" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand audience" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand settings" -l upload-rate -d 'Upload limit' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l download-rate -d 'Download limit' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l download-dir -d 'Default download folder (absolute; "" for the user\'s download folder)' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l help-friends -d 'Help my friends connect: relay between two friends who cannot reach each other' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l relay-rate -d 'Most bytes per second relayed for friends (0: no limit)' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l quota-albums -d 'Albums kept per owner who is a friend' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l quota-member-albums -d 'Albums kept per owner who is not a friend' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l quota-thumb-bytes -d 'Bytes of thumbnails kept per owner (500M, 6G; K, M, G are powers of 1000)' -r
complete -c kith -n "__fish_kith_using_subcommand settings" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand settings" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand settings" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand fetch" -l out -d 'Download folder (default: your download folder, Kith/ inside it)' -r -F
complete -c kith -n "__fish_kith_using_subcommand fetch" -l timeout -d 'Seconds to wait for someone who has it (default 30)' -r
complete -c kith -n "__fish_kith_using_subcommand fetch" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand fetch" -l json -d 'Print JSON'
complete -c kith -n "__fish_kith_using_subcommand fetch" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand identity; and not __fish_seen_subcommand_from export import help" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand identity; and not __fish_seen_subcommand_from export import help" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand identity; and not __fish_seen_subcommand_from export import help" -f -a "export" -d 'Write a passphrase-protected file with the identity and friends'
complete -c kith -n "__fish_kith_using_subcommand identity; and not __fish_seen_subcommand_from export import help" -f -a "import" -d 'Make this (empty) home use an exported identity'
complete -c kith -n "__fish_kith_using_subcommand identity; and not __fish_seen_subcommand_from export import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from export" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from import" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write a passphrase-protected file with the identity and friends'
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from help" -f -a "import" -d 'Make this (empty) home use an exported identity'
complete -c kith -n "__fish_kith_using_subcommand identity; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kith -n "__fish_kith_using_subcommand install" -l autostart -d 'Also start the node at login (a systemd user unit where one can run, otherwise an XDG autostart entry), and start it now' -r -f -a "auto\t'systemd when a user session manager runs, otherwise XDG'
systemd\t'A systemd user unit'
xdg\t'An XDG autostart entry'"
complete -c kith -n "__fish_kith_using_subcommand install" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kith -n "__fish_kith_using_subcommand uninstall" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand uninstall" -l purge -d 'Also delete this home (identity, friends, albums\' records) and its logs'
complete -c kith -n "__fish_kith_using_subcommand uninstall" -l yes -d 'Do not ask before deleting the home'
complete -c kith -n "__fish_kith_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand logs" -s n -l lines -d 'How many lines' -r
complete -c kith -n "__fish_kith_using_subcommand logs" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand logs" -s f -l follow -d 'Keep printing lines as they are written'
complete -c kith -n "__fish_kith_using_subcommand logs" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand doctor" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand demo" -l home -d 'The Kith home (default: $KITH_HOME, else the OS data directory)' -r -F
complete -c kith -n "__fish_kith_using_subcommand demo" -l once -d 'Exit after showing the handshake instead of running until Ctrl-C'
complete -c kith -n "__fish_kith_using_subcommand demo" -l friend -d 'Instead: start a demo friend for this home, who shares an album of photos with it'
complete -c kith -n "__fish_kith_using_subcommand demo" -s h -l help -d 'Print help'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "init" -d 'Create this home\'s identity (an Ed25519 key) and print the new peer ID'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "id" -d 'Print this home\'s peer ID'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "serve" -d 'Run the node in the foreground until Ctrl-C or SIGTERM'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "start" -d 'Start the node in the background unless one runs (exit 0 once it answers)'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "stop" -d 'Stop the running node'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "status" -d 'Show the running node\'s state (exit 3 when none runs)'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "invite" -d 'Make a one-time invite link for a friend'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "accept" -d 'Accept a friend\'s invite link'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "friends" -d 'List friends'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "unfriend" -d 'Remove a friend (full ID, unique prefix or name)'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "share" -d 'Share files or folders with friends as a new album; prints its ID'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "albums" -d 'List albums shared with me and by me'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "album" -d 'List the files of one album'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "comment" -d 'Comment on an album or an item (prints the comment\'s ID), or change a comment'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "comments" -d 'List the comments on an album (all of them) or on one item'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "verify" -d 'Mark that you compared the safety number with a friend (full ID, prefix or name)'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "unshare" -d 'Stop sharing an album of mine'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "transfers" -d 'List fetches under way or waiting to resume'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "audience" -d 'Add or remove members of an album of mine, or retitle it'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "settings" -d 'Show or change settings (rate limits, in bytes per second; 500K, 2M; 0 for none)'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "fetch" -d 'Download an album (or one item of it) shared with me'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "identity" -d 'Move an identity and its friends to another computer'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "install" -d 'Register Kith with Firefox and the Chromium-family browsers for this user'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "uninstall" -d 'Undo `install`: remove the registrations and the login entry, and stop the node'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "logs" -d 'Show the end of the log of the node started in the background'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "doctor" -d 'Explain what is wrong with this installation'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "demo" -d 'Start two local nodes in a temporary home, befriend them and show the handshake'
complete -c kith -n "__fish_kith_using_subcommand help; and not __fish_seen_subcommand_from init id serve start stop status invite accept friends unfriend share albums album comment comments verify unshare transfers audience settings fetch identity install uninstall logs doctor demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kith -n "__fish_kith_using_subcommand help; and __fish_seen_subcommand_from identity" -f -a "export" -d 'Write a passphrase-protected file with the identity and friends'
complete -c kith -n "__fish_kith_using_subcommand help; and __fish_seen_subcommand_from identity" -f -a "import" -d 'Make this (empty) home use an exported identity'
