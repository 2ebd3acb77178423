// greet is the program under test in this example: it greets its arguments
// with $GREETING, and exits with status 2 when given nothing to greet.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: greet NAME...")
		os.Exit(2)
	}
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "Hello"
	}
	fmt.Printf("%s, %s!\n", greeting, strings.Join(os.Args[1:], " and "))
}
