@msg = private constant [3 x i8] c"OK\00"

declare i32 @puts(i8*)

define i32 @main() {
  %p = getelementptr [3 x i8], [3 x i8]* @msg, i64 0, i64 0
  call i32 @puts(i8* %p)
  ret i32 0
}
