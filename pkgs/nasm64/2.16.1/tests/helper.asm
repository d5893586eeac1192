
section .data
msg:    db "OK", 10

section .text
global print_ok
print_ok:
        mov rax, 1
        mov rdi, 1
        mov rsi, msg
        mov rdx, 3
        syscall
        ret
