module xwasi/examples

go 1.21
