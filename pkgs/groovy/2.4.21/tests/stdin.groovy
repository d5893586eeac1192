def line = System.in.newReader().readLine()
println "OK ${line}"
