structure Helper =
struct
  val word = "OK"
end;
