/*
 * A NETCONF call-home manager on Debian's libnetconf2 (2.0.x): an
 * independent peer for the interop tests, compiled by them.
 *
 *   nc_callhome_client ssh PORT USER PUBKEY PRIVKEY HOSTKEY_SHA256_HEX EDIT_XML
 *   nc_callhome_client tls PORT CERT KEY CA_FILE EDIT_XML
 *
 * Listens on 127.0.0.1:PORT, accepts one call home, then <get-config> of
 * running (printed between "DATA-BEGIN" and "DATA-END") and an
 * <edit-config> merge of EDIT_XML; <close-session> when the session is freed.
 * SSH: the device host key must have the given SHA-256 digest. TLS: the
 * device certificate must chain to CA_FILE. Exit 0 only if all succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libyang/libyang.h>
#include <nc_client.h>

static int hostkey_check(const char *hostname, ssh_session session, void *priv)
{
    const char *expected = priv;
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t len = 0;
    char hex[2 * 64 + 1] = "";
    int ok;

    (void)hostname;
    if (ssh_get_server_publickey(session, &key) != SSH_OK) {
        return -1;
    }
    ok = ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0 && len <= 64;
    for (size_t i = 0; ok && i < len; i++) {
        sprintf(hex + 2 * i, "%02x", hash[i]);
    }
    ok = ok && !strcmp(hex, expected);
    fprintf(stderr, "host key sha256 %s: %s\n", hex, ok ? "pinned" : "NOT the expected key");
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
    return ok ? 0 : -1;
}

/* Send an RPC, wait for its reply; print the data if any. 0 on <ok/> or data. */
static int call(struct nc_session *session, struct nc_rpc *rpc, const char *what)
{
    uint64_t msgid;
    struct lyd_node *envp = NULL, *op = NULL;
    char *text = NULL;
    int ret = -1;

    if (nc_send_rpc(session, rpc, 5000, &msgid) != NC_MSG_RPC) {
        fprintf(stderr, "%s: sending failed\n", what);
        return -1;
    }
    if (nc_recv_reply(session, rpc, msgid, 20000, &envp, &op) != NC_MSG_REPLY) {
        fprintf(stderr, "%s: no reply\n", what);
        return -1;
    }
    if (op) {
        lyd_print_mem(&text, op, LYD_XML, LYD_PRINT_WITHSIBLINGS);
        printf("DATA-BEGIN\n%s\nDATA-END\n", text ? text : "");
        ret = 0;
    } else if (envp && lyd_child(envp) && !strcmp(LYD_NAME(lyd_child(envp)), "ok")) {
        printf("%s: ok\n", what);
        ret = 0;
    } else {
        lyd_print_mem(&text, envp, LYD_XML, LYD_PRINT_WITHSIBLINGS);
        fprintf(stderr, "%s: error reply %s\n", what, text ? text : "");
    }
    free(text);
    lyd_free_all(envp);
    lyd_free_all(op);
    return ret;
}

int main(int argc, char **argv)
{
    struct nc_session *session = NULL;
    struct nc_rpc *rpc;
    const char *edit;
    int tls, port, ret = 1;

    if (argc < 7 || (strcmp(argv[1], "ssh") && strcmp(argv[1], "tls"))) {
        fprintf(stderr, "usage: see the comment at the top of the source\n");
        return 2;
    }
    tls = !strcmp(argv[1], "tls");
    if ((!tls && argc != 8) || (tls && argc != 7)) {
        fprintf(stderr, "wrong number of arguments\n");
        return 2;
    }
    port = atoi(argv[2]);
    nc_client_init();
    nc_verbosity(getenv("NC_DEBUG") ? NC_VERB_DEBUG : NC_VERB_ERROR);

    if (tls) {
        edit = argv[6];
        if (nc_client_tls_ch_add_bind_listen("127.0.0.1", port) || nc_client_tls_ch_set_cert_key_paths(argv[3], argv[4])
                || nc_client_tls_ch_set_trusted_ca_paths(argv[5], NULL)) {
            fprintf(stderr, "TLS call-home setup failed\n");
            goto out;
        }
    } else {
        edit = argv[7];
        nc_client_ssh_ch_set_auth_hostkey_check_clb(hostkey_check, argv[6]);
        nc_client_ssh_ch_set_auth_pref(NC_SSH_AUTH_PASSWORD, -1);
        nc_client_ssh_ch_set_auth_pref(NC_SSH_AUTH_INTERACTIVE, -1);
        if (nc_client_ssh_ch_add_bind_listen("127.0.0.1", port) || nc_client_ssh_ch_set_username(argv[3])
                || nc_client_ssh_ch_add_keypair(argv[4], argv[5])) {
            fprintf(stderr, "SSH call-home setup failed\n");
            goto out;
        }
    }
    printf("listening\n");
    fflush(stdout);

    if (nc_accept_callhome(30000, NULL, &session) != 1) {
        fprintf(stderr, "no call home accepted\n");
        goto out;
    }
    printf("session-id %u\n", nc_session_get_id(session));

    rpc = nc_rpc_getconfig(NC_DATASTORE_RUNNING, NULL, NC_WD_UNKNOWN, NC_PARAMTYPE_CONST);
    ret = call(session, rpc, "get-config");
    nc_rpc_free(rpc);
    if (!ret) {
        rpc = nc_rpc_edit(NC_DATASTORE_RUNNING, NC_RPC_EDIT_DFLTOP_MERGE, NC_RPC_EDIT_TESTOPT_UNKNOWN,
                NC_RPC_EDIT_ERROPT_UNKNOWN, edit, NC_PARAMTYPE_CONST);
        ret = call(session, rpc, "edit-config");
        nc_rpc_free(rpc);
    }
    fflush(stdout);

out:
    nc_session_free(session, NULL);
    nc_client_destroy();
    return ret ? 1 : 0;
}
