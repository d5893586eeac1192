proc word*(): string = "OK"
