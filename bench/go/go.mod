module xwasi.bench

go 1.21
