package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one entry of the command table. Dispatch, the usage `plugboard` and `plugboard help`
// print, and every command's --help are all read from it, so they cannot disagree.
type command struct {
	// name is the command's words, "orgs delete".
	name string
	// args is the synopsis of its own flags, "--org ID [--json]"; admin commands get the store
	// flags' synopsis appended.
	args string
	// about says what the command does, for its --help.
	about string
	// admin commands work on an existing store and never create one: they open it with
	// invocation.openStore. Which settings a command takes (--data-dir, ...) the settings table
	// says (settings.go).
	admin bool
	// setup registers the command's flags on fs and returns what runs it once they are parsed.
	setup func(fs *flag.FlagSet, inv *invocation) func(context.Context) error
	// arg names the one positional argument the command takes ("KEY_ID"), before or after its
	// flags; "" for none. It reaches the command as invocation.arg.
	arg string
}

// synopsis is the command's usage line, without the program name.
func (c command) synopsis() string {
	s := c.name
	if c.arg != "" {
		s += " " + c.arg
	}
	if c.args != "" {
		s += " " + c.args
	}
	if st := settingsSynopsis(c.name); st != "" {
		s += " " + st
	}
	return s
}

// invocation is what a command runs with.
type invocation struct {
	cfg    Config
	arg    string // the positional argument, for commands that take one
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// commands is the command table, in the order usage lists it.
func commands() []command {
	return []command{
		{name: "serve",
			about: "Serve the API. The first start creates the store (an SQLite file in the data dir unless a\n" +
				"database URL is set), a default organisation with an API key (printed once), and, without\n" +
				EnvEncryptionKey + ", a master key file in the data dir. It also purges deleted organisations\n" +
				"whose grace period (" + EnvOrgPurgeAfter + ", default " + defaultOrgPurgeAfterText + ") has passed, one replica at a time.",
			setup: setupServe},
		{name: "migrate", admin: true,
			about: "Apply pending schema migrations. Run it once per release on PostgreSQL, before starting the\n" +
				"new replicas (an empty PostgreSQL database gets the whole schema). SQLite files migrate when\n" +
				"serve opens them; this command refuses an SQLite file that does not exist yet.",
			setup: setupMigrate},
		{name: "orgs create", args: "--name NAME [--json]", admin: true,
			about: "Create an organisation and its first API key (printed once; only its hash is stored).",
			setup: setupOrgsCreate},
		{name: "orgs list", args: "[--json]", admin: true,
			about: "List the organisations, deleted ones included, with when each deleted one will be purged.",
			setup: setupOrgsList},
		{name: "orgs delete", args: "--org ID", admin: true,
			about: "Delete an organisation. Every API key of it is refused at once: the command returns once no\n" +
				"server (any replica) can still admit one. Its records and sealed secrets are kept for the grace\n" +
				"period (" + EnvOrgPurgeAfter + ", default " + defaultOrgPurgeAfterText + "), so they can be exported, then purged.",
			setup: setupOrgsDelete},
		{name: "orgs export", args: "--org ID", admin: true,
			about: "Write everything an organisation holds but its secrets to stdout as JSON: systems with their\n" +
				"auth scheme configs' public halves, projects and environments, connection templates, end users,\n" +
				"and connections with their credentials redacted as the API shows them. Deleted organisations\n" +
				"can be exported until they are purged.",
			setup: setupOrgsExport},
		{name: "orgs purge", args: "[--org ID] [--after DURATION]", admin: true,
			about: "Remove deleted organisations and every record and sealed secret of them, now: those deleted\n" +
				"longer ago than --after, or the one deleted organisation --org names, whatever its age. serve\n" +
				"does the same in the background once the grace period has passed.",
			setup: setupOrgsPurge},
		{name: "systems import", arg: "FILE|URL", args: "--org ID [--name NAME] [--server INDEX] [--schemes S1,S2] [--dry-run]", admin: true,
			about: "Create a system from an OpenAPI 2.0/3.0/3.1 document or a Postman collection (JSON or YAML), a\n" +
				"file or an http(s) URL fetched through the guarded client, as POST /o/{org}/systems/import does;\n" +
				"prints the system and the warnings as JSON (warnings also on stderr). See docs/catalogue.md.",
			setup: setupSystemsImport},
		{name: "api-keys create", args: "--org ID [--scopes S1,S2] [--json]", admin: true,
			about: "Create an API key for an organisation (printed once; only its hash is stored). Without\n" +
				"--scopes the key may do everything.",
			setup: setupAPIKeysCreate},
		{name: "api-keys list", args: "--org ID [--json]", admin: true,
			about: "List an organisation's API keys: id, name, prefix, scopes, when created, last used and expiring.\n" +
				"Never their secrets.",
			setup: setupAPIKeysList},
		{name: "api-keys delete", args: "--org ID --id KEY_ID", admin: true,
			about: "Revoke an API key. Running servers that verified it in the last 30 s may accept it until\n" +
				"their cached copy is that old; a revoke through the API takes effect at once on that server.",
			setup: setupAPIKeysDelete},
		{name: "master-keys status", args: "[--json]", admin: true,
			about: "Count the sealed values per table and master key id, and say which the keys configured here\n" +
				"(" + EnvEncryptionKey + " or the key file) open, which is first, and which still need a rewrap.",
			setup: setupMasterKeysStatus},
		{name: "master-keys rewrap", args: "[--background] [--batch N] [--rate N]", admin: true,
			about: "Re-seal every sealed value under the first master key, in batches, at most --rate values a\n" +
				"second; resumable, and safe beside running replicas (a value changed meanwhile is left to its\n" +
				"writer). With --background it only records the request, which serve replicas whose first key\n" +
				"it is carry out (" + EnvRewrapInterval + ", " + EnvRewrapRate + "). See README, Rotating master keys.",
			setup: setupMasterKeysRewrap},
		{name: "master-keys retire", arg: "KEY_ID", admin: true,
			about: "Record a master key as retired once nothing is sealed with it (refused, naming the counts,\n" +
				"while anything is); serve then refuses it as a first key. Drop it from every replica after.",
			setup: setupMasterKeysRetire},
	}
}

// environmentHelp lists every setting's variable, from the settings table.
func environmentHelp() string {
	var b strings.Builder
	b.WriteString("Settings: each is a flag of serve and an environment variable (the flag wins; secrets only the\nvariable); `plugboard serve --help` says what each does.\nVariables:")
	width := len("Variables:")
	for i, name := range SettingNames() {
		word := " " + name
		if i < len(SettingNames())-1 {
			word += ","
		}
		if width+len(word) > 100 {
			b.WriteString("\n ")
			width = 1
		}
		b.WriteString(word)
		width += len(word)
	}
	b.WriteString("\n")
	return b.String()
}

// usage is what `plugboard` and `plugboard help` print.
func usage() string {
	var b strings.Builder
	b.WriteString("plugboard: stores credentials for third-party APIs and serves them over the Versori-compatible API.\n\nUsage:\n")
	for _, c := range commands() {
		b.WriteString("  plugboard " + c.synopsis() + "\n")
	}
	b.WriteString("  plugboard help [COMMAND]\n\n")
	b.WriteString("Run `plugboard COMMAND --help` for what a command does and its flags.\n\n")
	b.WriteString(environmentHelp())
	return b.String()
}

// Run runs the command named by args and returns the process exit code: 0 on success (and for
// help), 1 when the command fails, 2 when it is called wrongly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	if args[0] == "help" || isHelp(args[0]) {
		return runHelp(args[1:], stdout, stderr)
	}
	cmd, rest, ok := find(args)
	if !ok {
		if group := subcommands(args[0]); len(group) > 0 && (len(args) == 1 || isHelp(args[1])) {
			w, code := stderr, 2
			if len(args) > 1 {
				w, code = stdout, 0
			}
			fmt.Fprintf(w, "Usage:\n%s\nRun `plugboard %s COMMAND --help` for what a command does and its flags.\n", group, args[0])
			return code
		}
		fmt.Fprintf(stderr, "plugboard: unknown command %q\n\n%s", strings.Join(args, " "), usage())
		return 2
	}
	inv := &invocation{stdout: stdout, stderr: stderr, getenv: getenv}
	fs := flagSet(cmd, inv)
	run := fs.run
	if cmd.arg != "" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		inv.arg, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, help(cmd))
		return 0
	} else if err != nil {
		fmt.Fprintf(stderr, "plugboard %s: %v\nUsage: plugboard %s\n", cmd.name, err, cmd.synopsis())
		return 2
	}
	if cmd.arg != "" && inv.arg == "" && fs.NArg() > 0 {
		inv.arg = fs.Arg(0)
		// Flags after the argument, checked as strictly as those before it.
		if err := fs.FlagSet.Parse(fs.Args()[1:]); errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help(cmd))
			return 0
		} else if err != nil {
			fmt.Fprintf(stderr, "plugboard %s: %v\nUsage: plugboard %s\n", cmd.name, err, cmd.synopsis())
			return 2
		}
	}
	if cmd.arg != "" && inv.arg == "" {
		fmt.Fprintf(stderr, "plugboard %s: missing %s\nUsage: plugboard %s\n", cmd.name, cmd.arg, cmd.synopsis())
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "plugboard %s: unexpected argument %q\nUsage: plugboard %s\n", cmd.name, fs.Arg(0), cmd.synopsis())
		return 2
	}
	if err := fs.settings.load(&inv.cfg, inv.getenv); err != nil {
		fmt.Fprintf(stderr, "plugboard: %v\n", err)
		return 1
	}
	if err := run(ctx); err != nil {
		fmt.Fprintf(stderr, "plugboard: %v\n", describe(err))
		return 1
	}
	return 0
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// find returns the command the leading words of args name, and the arguments after them.
func find(args []string) (command, []string, bool) {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

// subcommands lists the usage lines of the commands under a first word such as "orgs".
func subcommands(group string) string {
	var b strings.Builder
	for _, c := range commands() {
		if strings.HasPrefix(c.name, group+" ") {
			b.WriteString("  plugboard " + c.synopsis() + "\n")
		}
	}
	return b.String()
}

// commandFlags is a command's flag set with its settings and the function that runs the command.
type commandFlags struct {
	*flag.FlagSet
	settings *settingFlags
	run      func(context.Context) error
}

// flagSet registers a command's flags and those of the settings it takes. Parse errors are
// reported by Run, so the flag package prints nothing itself.
func flagSet(c command, inv *invocation) commandFlags {
	fs := flag.NewFlagSet("plugboard "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	sf := registerSettings(fs, c.name)
	return commandFlags{FlagSet: fs, settings: sf, run: c.setup(fs, inv)}
}

// help is a command's --help: its usage line, what it does, and its flags.
func help(c command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: plugboard %s\n\n%s\n", c.synopsis(), c.about)
	fs := flagSet(c, &invocation{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }})
	header := "\nFlags:\n"
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*settingValue); ok {
			return // settingsHelp describes it
		}
		b.WriteString(header)
		header = ""
		valueName, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if valueName != "" {
			line += " " + strings.ToUpper(valueName)
		}
		b.WriteString(line + "\n        " + text)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(&b, " (default %q)", f.DefValue)
		}
		b.WriteString("\n")
	})
	b.WriteString(settingsHelp(c.name))
	if c.admin {
		b.WriteString("\nIt works on the store a server uses, while it runs, and never creates one: without a store at\n" +
			"--data-dir/--database-url (or " + EnvDataDir + "/" + EnvDatabaseURL + ") it fails, naming where it looked.\n" +
			"It says on stderr which store it used.\n")
	}
	return b.String()
}

// runHelp answers `plugboard help [COMMAND]`.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage())
		return 0
	}
	if c, rest, ok := find(args); ok && len(rest) == 0 {
		fmt.Fprint(stdout, help(c))
		return 0
	}
	if group := subcommands(args[0]); len(group) > 0 && len(args) == 1 {
		fmt.Fprintf(stdout, "Usage:\n%s", group)
		return 0
	}
	fmt.Fprintf(stderr, "plugboard help: unknown command %q\n\n%s", strings.Join(args, " "), usage())
	return 2
}
