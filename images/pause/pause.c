/*
 * The pod sandbox ("pause") process of the local Kubernetes (scripts/kube): it holds the
 * pod's namespaces, reaps zombies (it is PID 1 of the pod when the PID namespace is shared)
 * and exits on SIGINT/SIGTERM. Built statically here because no registry, and so no
 * registry.k8s.io/pause image, is reachable.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { _exit(sig == SIGTERM || sig == SIGINT ? 0 : 1); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  for (;;) pause();
  return 0;
}
