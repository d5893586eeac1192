@ok = private constant [3 x i8] c"OK\00"

define i8* @word() {
  %p = getelementptr [3 x i8], [3 x i8]* @ok, i64 0, i64 0
  ret i8* %p
}
