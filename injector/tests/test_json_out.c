/* The webhook's fast path against cJSON: inj__json_write must print exactly what
 * cJSON_PrintUnformatted prints, and answers built with cJSON's per-review arena hooks must be
 * byte-identical to answers built on the heap (and to what cJSON prints for the same tree). */

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "../internal.h"
#include "dc/buf.h"
#include "inj_test_util.h"

/* inj__json_write(v) == cJSON_PrintUnformatted(v), byte for byte. */
static void same_as_cjson(const cJSON *v)
{
    struct dc_buf b = {0};
    char *want = cJSON_PrintUnformatted(v);

    assert_non_null(want);
    assert_int_equal(inj__json_write(&b, v), DC_OK);
    if (strcmp(dc_buf_cstr(&b), want) != 0)
        fail_msg("cJSON: %s\nours:  %s", want, dc_buf_cstr(&b));
    assert_int_equal(b.len, strlen(want));
    free(want);
    dc_buf_cleanup(&b);
}

static void test_texts(void **state)
{
    static const char *const texts[] = {
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1",
        "-1",
        "2147483647",
        "2147483648",
        "-2147483649",
        "999999999999999",
        "1000000000000000",
        "-999999999999999",
        "10000000000000000",
        "9007199254740993",
        "123.456",
        "0.1",
        "-2.5e-300",
        "1e308",
        "1.7976931348623157e308",
        "4.9e-324",
        "2.2250738585072014e-308",
        "0.333333333333333314",
        "1e-7",
        "123456789.123456789",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\"",
        "\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"",
        "\"\\u2028\\u2029\\u00e9\\ud83d\\ude00\"",
        "[]",
        "{}",
        "[[],{},[{}]]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "{\"k\\\"ey\\n\":\"v\",\"\":\"\",\"dup\":1,\"dup\":2}",
        "[1,-1,1.5,-1.5,1e21,-1e-21,3.0,100,65536]",
    };
    size_t i;
    cJSON *v;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        v = cJSON_Parse(texts[i]);
        if (v == NULL)
            fail_msg("cJSON cannot parse %s", texts[i]);
        same_as_cjson(v);
        cJSON_Delete(v);
    }
}

static void test_built_values(void **state)
{
    static const double nums[] = {
        0.0,     -0.0,    1e15 - 1, 1e15,     -1e15,    1e15 + 1,
        0.5,     -0.5,    DBL_MAX,  DBL_MIN,  1e-320,   4503599627370496.5,
        1.0 / 3, 2.0 / 3, 7200,     INFINITY, -INFINITY};
    char bytes[256];
    cJSON *arr = cJSON_CreateArray(), *obj = cJSON_CreateObject();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(nums[i]));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(NAN));
    /* Every byte value, raw (so also invalid UTF-8 and DEL). */
    for (i = 1; i < 256; i++)
        bytes[i - 1] = (char)i;
    bytes[255] = '\0';
    cJSON_AddItemToArray(arr, cJSON_CreateString(bytes));
    cJSON_AddItemToArray(arr, cJSON_CreateRaw("{\"raw\" : 1}"));
    cJSON_AddItemToObject(obj, bytes, cJSON_CreateString("x"));
    cJSON_AddItemToObject(obj, "arr", arr);
    same_as_cjson(obj);
    cJSON_Delete(obj);
}

/* Every golden pod as a review: the answers of the heap run, kept for the arena run. */
#define MAX_CASES 64
static char *heap_answers[MAX_CASES];
static char *case_names[MAX_CASES];
static size_t n_cases;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct dc_buf b = {0};
    char chunk[4096];
    size_t n;

    assert_non_null(f);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(dc_buf_append(&b, chunk, n), DC_OK);
    fclose(f);
    return dc_buf_take(&b, NULL);
}

static char *answer(const char *name)
{
    static struct inj_config cfg;
    static int ready;
    struct dc_buf body = {0};
    struct inj_outcome out;
    char path[512], *pod, *resp = NULL;
    size_t len = 0;

    if (!ready) {
        test_config(&cfg);
        ready = 1;
    }
    snprintf(path, sizeof(path), "injector/tests/golden/%s", name);
    pod = read_file(path);
    assert_int_equal(dc_buf_appendf(&body,
                                    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
                                    "\"AdmissionReview\",\"request\":{\"uid\":\"u-1\",\"kind\":"
                                    "{\"kind\":\"Pod\"},\"namespace\":\"shop\",\"userInfo\":"
                                    "{\"username\":\"system:serviceaccount:kube-system:"
                                    "replicaset-controller\"},\"object\":%s}}",
                                    pod),
                     DC_OK);
    assert_int_equal(inj_admission_handle(body.data, body.len, &cfg, true, &resp, &len, &out),
                     DC_OK);
    assert_int_equal(len, strlen(resp));
    free(pod);
    dc_buf_cleanup(&body);
    return resp;
}

/* `text` is exactly what cJSON prints for the tree it parses to. */
static void canonical(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    char *again;

    assert_non_null(v);
    same_as_cjson(v);
    again = cJSON_PrintUnformatted(v);
    assert_string_equal(again, text);
    free(again);
    cJSON_Delete(v);
}

static void check_answer(const char *resp)
{
    cJSON *j = cJSON_Parse(resp);
    const char *b64 = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "response"), "patch"));
    unsigned char *raw;
    int n;

    canonical(resp);
    if (b64 != NULL) {
        raw = calloc(1, strlen(b64) + 1);
        assert_non_null(raw);
        n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
        assert_true(n >= 0);
        /* EVP_DecodeBlock keeps the zero bytes of padding: trim them. */
        while (n > 0 && raw[n - 1] == '\0')
            n--;
        raw[n] = '\0';
        canonical((const char *)raw);
        free(raw);
    }
    cJSON_Delete(j);
}

static void test_heap_answers(void **state)
{
    DIR *d = opendir("injector/tests/golden");
    struct dirent *e;
    size_t patched = 0, i;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 9 || strcmp(e->d_name + n - 9, ".pod.json") != 0)
            continue;
        assert_true(n_cases < MAX_CASES);
        case_names[n_cases] = strdup(e->d_name);
        heap_answers[n_cases] = answer(e->d_name);
        check_answer(heap_answers[n_cases]);
        n_cases++;
    }
    closedir(d);
    assert_true(n_cases >= 10);
    for (i = 0; i < n_cases; i++)
        patched += strstr(heap_answers[i], "\"patch\":\"") != NULL;
    assert_true(patched >= 10);
}

/* After inj_json_memory_init, the trees live in per-review arenas: same bytes. Runs last (the
 * hooks stay for the rest of the process). */
static void test_arena_answers(void **state)
{
    struct dc_arena a;
    size_t i;
    char *resp;
    cJSON *v;

    (void)state;
    assert_true(n_cases > 0);
    inj_json_memory_init();
    for (i = 0; i < n_cases; i++) {
        resp = answer(case_names[i]);
        if (strcmp(resp, heap_answers[i]) != 0)
            fail_msg("%s: arena answer differs:\n%s\n%s", case_names[i], resp, heap_answers[i]);
        free(resp);
        free(heap_answers[i]);
        free(case_names[i]);
    }
    /* Outside an arena cJSON keeps the heap (ASan reports a leak or a bad free otherwise). */
    v = cJSON_Parse("{\"a\":[1,2,{\"b\":\"c\"}]}");
    assert_non_null(v);
    cJSON_Delete(v);
    /* Inside one, nodes come from the arena and cJSON_Delete leaves them to it. */
    dc_arena_init(&a);
    assert_null(inj__json_arena_swap(&a));
    v = cJSON_Parse("{\"a\":[1,2,{\"b\":\"c\"}]}");
    assert_non_null(v);
    assert_true(a.used > 0);
    cJSON_Delete(v);
    assert_ptr_equal(inj__json_arena_swap(NULL), &a);
    dc_arena_cleanup(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_built_values),
        cmocka_unit_test(test_heap_answers),
        cmocka_unit_test(test_arena_answers),
    };

    return cmocka_run_group_tests_name("injector json_out", tests, NULL, NULL);
}
