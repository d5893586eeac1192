package main

func word() string {
	return "OK"
}
