; Prints the arguments joined by "|".
section .data
bar:    db "|"
nl:     db 10

section .text
global _start
_start:
        mov r12, [rsp]          ; argc
        lea r13, [rsp + 8]      ; argv
        mov r14, 1              ; i
.loop:  cmp r14, r12
        jge .done
        cmp r14, 1
        je .arg
        mov rax, 1
        mov rdi, 1
        mov rsi, bar
        mov rdx, 1
        syscall
.arg:   mov rsi, [r13 + r14 * 8]
        xor rdx, rdx
.len:   cmp byte [rsi + rdx], 0
        je .write
        inc rdx
        jmp .len
.write: mov rax, 1
        mov rdi, 1
        syscall
        inc r14
        jmp .loop
.done:  mov rax, 1
        mov rdi, 1
        mov rsi, nl
        mov rdx, 1
        syscall
        mov rax, 60
        xor rdi, rdi
        syscall
