; Uses @word from helper.ll (an extra module).
declare i8* @word()
declare i32 @puts(i8*)

define i32 @main() {
  %w = call i8* @word()
  call i32 @puts(i8* %w)
  ret i32 0
}
