/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtguest entry point: a multiboot (v1) header and the few instructions that
 * set up a stack and call guest_main(magic, info) in 32-bit protected mode.
 *
 * A multiboot loader (QEMU's -kernel) enters here with flat 4 GiB code and data
 * segments, paging off, interrupts off, EAX = 0x2BADB002 and EBX = the physical
 * address of the multiboot information structure.
 */

        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003       /* page-align modules, want memory info */

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .section .bss
        .balign 16
stack_bottom:
        .skip 16384
stack_top:

        .section .text
        .globl _start
        .type _start, @function
_start:
        cli
        cld
        movl $stack_top, %esp
        pushl %ebx                      /* multiboot info */
        pushl %eax                      /* loader magic */
        call guest_main
        /* guest_main() does not return; if it does, stop here for good. */
1:      hlt
        jmp 1b
        .size _start, . - _start

        .section .note.GNU-stack, "", @progbits
