module helper
  implicit none
contains
  function word() result(w)
    character(len=2) :: w
    w = 'OK'
  end function word
end module helper
