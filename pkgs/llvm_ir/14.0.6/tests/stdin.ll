; Reads one line (fgets) and prints "OK " followed by it.
@stdin = external global i8*
@fmt = private constant [7 x i8] c"OK %s\0A\00"
@nl = private constant [2 x i8] c"\0A\00"

declare i8* @fgets(i8*, i32, i8*)
declare i64 @strcspn(i8*, i8*)
declare i32 @printf(i8*, ...)

define i32 @main() {
  %buf = alloca [256 x i8]
  %b = getelementptr [256 x i8], [256 x i8]* %buf, i64 0, i64 0
  store i8 0, i8* %b
  %in = load i8*, i8** @stdin
  %r = call i8* @fgets(i8* %b, i32 256, i8* %in)
  %nlp = getelementptr [2 x i8], [2 x i8]* @nl, i64 0, i64 0
  %n = call i64 @strcspn(i8* %b, i8* %nlp)
  %end = getelementptr i8, i8* %b, i64 %n
  store i8 0, i8* %end
  %f = getelementptr [7 x i8], [7 x i8]* @fmt, i64 0, i64 0
  call i32 (i8*, ...) @printf(i8* %f, i8* %b)
  ret i32 0
}
