/*
 * sanitizer.h -- UNDER_ASAN / UNDER_TSAN: defined when this translation unit
 * is built with AddressSanitizer / ThreadSanitizer (gcc or clang), so a test
 * can adapt to what the sanitizer runtime cannot do (and say why).
 */
#ifndef PYM_TEST_SANITIZER_H
#define PYM_TEST_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#elif __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#endif /* PYM_TEST_SANITIZER_H */
