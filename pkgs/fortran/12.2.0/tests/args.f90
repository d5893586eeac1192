program args
  implicit none
  integer :: i, n
  character(len=256) :: arg
  character(len=1024) :: out
  out = ''
  n = 0
  do i = 1, command_argument_count()
    call get_command_argument(i, arg)
    if (i == 1) then
      out = trim(arg)
      n = len_trim(arg)
    else
      out = out(1:n) // '|' // trim(arg)
      n = n + 1 + len_trim(arg)
    end if
  end do
  print '(A)', out(1:n)
end program args
