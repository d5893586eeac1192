; Reads one line from stdin and prints "OK " followed by it.
section .data
ok:     db "OK "
nl:     db 10

section .bss
buf:    resb 256

section .text
global _start
_start:
        xor rax, rax            ; read(0, buf, 256)
        xor rdi, rdi
        mov rsi, buf
        mov rdx, 256
        syscall
        mov rcx, rax            ; rcx = bytes read (<= 0: nothing)
        xor rbx, rbx
.find:  cmp rbx, rcx            ; rbx = length up to the first newline
        jge .found
        cmp byte [buf + rbx], 10
        je .found
        inc rbx
        jmp .find
.found:
        mov rax, 1
        mov rdi, 1
        mov rsi, ok
        mov rdx, 3
        syscall
        mov rax, 1
        mov rdi, 1
        mov rsi, buf
        mov rdx, rbx
        syscall
        mov rax, 1
        mov rdi, 1
        mov rsi, nl
        mov rdx, 1
        syscall
        mov rax, 60
        xor rdi, rdi
        syscall
