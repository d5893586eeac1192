program echo
  implicit none
  character(len=256) :: line
  read (*, '(A)') line
  print '(A)', 'OK ' // trim(line)
end program echo
