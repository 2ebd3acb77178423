// hello: start-up cost only.
package main

import "fmt"

func main() {
	fmt.Println("hello, world")
}
