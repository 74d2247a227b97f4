module netpollbench

go 1.19
