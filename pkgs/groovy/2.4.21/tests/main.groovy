println new Helper().word()
