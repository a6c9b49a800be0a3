module dsim.test/wasmnodes

go 1.21
