FROM busybox:1.36 AS base
ARG V=1
ENV A=$V B="${V:-x}"
RUN echo hi && \
  echo there
COPY --chown=1:1 --from=base a b /c/
CMD ["sh", "-c", "echo"]
HEALTHCHECK --interval=5s CMD true
EXPOSE 80/tcp
USER 1000:1000
WORKDIR /w
LABEL a=b c="d e"
SHELL ["/bin/sh", "-c"]
ONBUILD RUN x
VOLUME ["/v"]
STOPSIGNAL SIGTERM
ENTRYPOINT x
ADD --chmod=644 http://x/y /z
