; Calls print_ok from helper.asm (linked in) and exits.

extern print_ok

section .text
global _start
_start:
        call print_ok
        mov rax, 60
        xor rdi, rdi
        syscall
