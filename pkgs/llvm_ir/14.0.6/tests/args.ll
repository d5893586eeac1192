; Prints the arguments joined by "|".
@bar = private constant [2 x i8] c"|\00"

declare i32 @fputs(i8*, i8*)
declare i32 @putchar(i32)
@stdout = external global i8*

define i32 @main(i32 %argc, i8** %argv) {
entry:
  br label %loop
loop:
  %i = phi i32 [ 1, %entry ], [ %next, %arg ]
  %more = icmp slt i32 %i, %argc
  br i1 %more, label %body, label %done
body:
  %out = load i8*, i8** @stdout
  %first = icmp eq i32 %i, 1
  br i1 %first, label %arg, label %sep
sep:
  %bp = getelementptr [2 x i8], [2 x i8]* @bar, i64 0, i64 0
  call i32 @fputs(i8* %bp, i8* %out)
  br label %arg
arg:
  %idx = sext i32 %i to i64
  %ap = getelementptr i8*, i8** %argv, i64 %idx
  %a = load i8*, i8** %ap
  call i32 @fputs(i8* %a, i8* %out)
  %next = add i32 %i, 1
  br label %loop
done:
  call i32 @putchar(i32 10)
  ret i32 0
}
