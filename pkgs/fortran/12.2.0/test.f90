program test
  implicit none
  print '(A)', 'OK'
end program test
