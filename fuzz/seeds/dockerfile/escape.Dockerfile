# escape=`
FROM scratch
RUN a `
 b
**/*.go
!keep/*.go
[a-c]?x
