/* The floor of the benchmark: the smallest libfcgi responder, writing fixed
 * bytes with the same headers and body size as mxdelegate's client document
 * for a bench domain.  It measures the FastCGI path itself.
 *
 *   floor [-c ignored] [-t threads] [-s /path/to/socket]
 *
 * Without -s it serves the socket on fd 0 (lighttpd bin-path), or answers one
 * CGI request when fd 0 is not a socket.  SIGTERM ends it with exit(), so
 * that valgrind writes its profile. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Same length as mxdelegate's answer for "dNNNNNNN.bench" (bench.py checks it). */
static const char answer[] =
	"Status: 200 OK\r\n"
	"Content-Type: application/json\r\n"
	"Access-Control-Allow-Origin: *\r\n"
	"Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n"
	"Access-Control-Allow-Headers: X-Requested-With, Content-Type, Authorization\r\n"
	"Cache-Control: public, max-age=14400\r\n"
	"ETag: \"0123456789abcdef\"\r\n"
	"Content-Length: 61\r\n"
	"\r\n"
	"{\"m.homeserver\":{\"base_url\":\"https://matrix.d0000001.bench\"}}";

static int listen_fd;

static void *worker(void *unused)
{
	(void)unused;
	FCGX_Request req;
	FCGX_InitRequest(&req, listen_fd, 0);
	for (;;) {
		/* No lock around the accept: with fastcgi_keep_conn a thread
		 * waits inside FCGX_Accept_r for the next request on its kept
		 * connection, and a lock would stop every other thread. */
		if (FCGX_Accept_r(&req) < 0)
			break;
		FCGX_PutStr(answer, sizeof answer - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return NULL;
}

static void on_term(int sig)
{
	(void)sig;
	exit(0);
}

int main(int argc, char **argv)
{
	int threads = 4, opt;
	const char *sock = NULL;
	while ((opt = getopt(argc, argv, "c:t:s:")) != -1) {
		if (opt == 't')
			threads = atoi(optarg);
		else if (opt == 's')
			sock = optarg;
	}
	FCGX_Init();
	if (!sock && FCGX_IsCGI()) {
		fwrite(answer, 1, sizeof answer - 1, stdout);
		return 0;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (sock) {
		unlink(sock);
		listen_fd = FCGX_OpenSocket(sock, 1024);
		if (listen_fd < 0)
			return 1;
		chmod(sock, 0666);
	}
	pthread_t t[256];
	if (threads < 1 || threads > 256)
		threads = 4;
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	worker(NULL);
	return 0;
}
