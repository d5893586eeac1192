program main
  use helper, only: word
  implicit none
  print '(A)', word()
end program main
