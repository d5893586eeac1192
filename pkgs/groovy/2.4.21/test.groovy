def l = ['K', 'O'].reverse()
println l.join('')
