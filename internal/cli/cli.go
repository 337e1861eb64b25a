package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit statuses of vpmu itself. vpmu stat otherwise passes the measured
// command's status through.
const (
	exitOK    = 0
	exitError = 1 // usage or setup error; the message is on stderr
)

// command is one vpmu subcommand.
type command struct {
	name    string
	summary string
	// usage is the full help text, printed by vpmu help NAME and -h.
	usage string
	run   func(env *Env, args []string) int
	// hidden commands are not listed by help (vpmu demo's guest side).
	hidden bool
}

// commands lists the subcommands in the order help shows them. It is
// filled in init to break the reference cycle through help.
var commands []*command

func init() {
	commands = []*command{listCommand, statCommand, recordCommand, runCommand, exporterCommand, demoCommand, helpCommand, demoGuestCommand}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// Main runs the vpmu command line with the real event catalog and
// counter backend. args excludes the program name. It returns the exit
// status for os.Exit.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := DefaultEnv()
	env.Stdin, env.Stdout, env.Stderr = stdin, stdout, stderr
	return env.Run(args)
}

// Run runs the vpmu command line in env. args excludes the program name.
// It returns the exit status: 0 on success, 1 for a usage or setup error
// (with a message on env.Stderr naming the command and what was wrong),
// and for vpmu stat the measured command's status.
func (env *Env) Run(args []string) int {
	e := env.withDefaults()
	if len(args) == 0 {
		fmt.Fprint(e.Stderr, topUsage())
		return exitError
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		fmt.Fprint(e.Stdout, topUsage())
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		if strings.HasPrefix(name, "-") {
			fmt.Fprintf(e.Stderr, "vpmu: unknown flag %s before the command\nRun 'vpmu help' for usage.\n", name)
		} else {
			fmt.Fprintf(e.Stderr, "vpmu: unknown command %q\nRun 'vpmu help' for usage.\n", name)
		}
		return exitError
	}
	return c.run(e, args[1:])
}

// topUsage is vpmu's help text.
func topUsage() string {
	var b strings.Builder
	b.WriteString(`vpmu: virtual performance counters for Linux processes and the vpmu hypervisor

Usage:

	vpmu <command> [arguments]

Commands:

`)
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(&b, "\t%-8s %s\n", c.name, c.summary)
		}
	}
	b.WriteString(`
Run 'vpmu help <command>' for the flags of a command.
`)
	return b.String()
}

var helpCommand = &command{
	name:    "help",
	summary: "show help for vpmu or one of its commands",
	usage: `Usage: vpmu help [command]

Show the usage of vpmu, or of one command.
`,
	run: runHelp,
}

func runHelp(env *Env, args []string) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(env.Stdout, topUsage())
		return exitOK
	case len(args) > 1:
		fmt.Fprintf(env.Stderr, "vpmu help: too many arguments %q\nRun 'vpmu help' for usage.\n", args)
		return exitError
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(env.Stderr, "vpmu help: unknown command %q\nRun 'vpmu help' for usage.\n", args[0])
		return exitError
	}
	fmt.Fprint(env.Stdout, c.usage)
	return exitOK
}

// usageError is an error in the command line itself: after the message,
// the user is pointed at the command's help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// fail prints err for command name and returns the error exit status.
func (env *Env) fail(name string, err error) int {
	fmt.Fprintf(env.Stderr, "vpmu %s: %v\n", name, err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(env.Stderr, "Run 'vpmu help %s' for usage.\n", name)
	}
	return exitError
}
