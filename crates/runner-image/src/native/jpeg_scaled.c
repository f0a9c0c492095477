/* Decodes a JPEG with the system's libjpeg(-turbo) at a reduced DCT scale: the IDCT
 * produces 1/2, 1/4 or 1/8 of the image directly, which is how PIL's `draft` mode reads
 * photos much larger than the size they are resized to. A JPEG error never exits the
 * process (libjpeg's default): it returns here through longjmp with the message. */

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

enum { DECODED = 0, FAILED = 1, UNSUPPORTED = 2, TOO_LARGE = 3 };

/* How control comes back to setjmp: a libjpeg error, warnings counted while decoding, or
 * more scans than allowed. */
enum { ERRORED = 1, WARNED = 2, TOO_MANY_SCANS = 3 };

struct error_manager {
    struct jpeg_error_mgr base;
    jmp_buf escape;
};

/* libjpeg calls the progress monitor between scans (and rows) while it reads the input. */
struct scan_limit {
    struct jpeg_progress_mgr base;
    struct error_manager *errors;
    int max_scans;
};

static void on_progress(j_common_ptr info) {
    struct scan_limit *limit = (struct scan_limit *)info->progress;
    if (((j_decompress_ptr)info)->input_scan_number > limit->max_scans) {
        longjmp(limit->errors->escape, TOO_MANY_SCANS);
    }
}

static void on_error(j_common_ptr info) {
    struct error_manager *errors = (struct error_manager *)info->err;
    longjmp(errors->escape, ERRORED);
}

/* Warnings (corrupt data, a premature end) are not printed; they are counted and the
 * caller refuses the image. */
static void on_message(j_common_ptr info, int level) {
    if (level < 0) {
        info->err->num_warnings++;
    }
}

/* Decodes `data` to packed RGB at the smallest scale whose size is still at least
 * `min_width` x `min_height` (full size when the image is smaller). On DECODED,
 * `*pixels` (free with runner_jpeg_free) holds `*width` x `*height` x 3 bytes. On FAILED,
 * `message` says why. UNSUPPORTED: CMYK and YCCK images, which libjpeg does not convert to
 * RGB. TOO_LARGE: the header declares more than `max_pixels` (`*width` x `*height`).
 *
 * Bounded whatever the file says: the output and libjpeg's own memory together stay under
 * `max_memory` (libjpeg keeps a multi-scan image's coefficients whole, and without a
 * backing store it fails rather than exceed `max_memory_to_use`), and a file with more
 * than `max_scans` scans fails. */
int runner_jpeg_decode_scaled(const unsigned char *data, unsigned long length,
                              unsigned min_width, unsigned min_height,
                              unsigned long long max_pixels, size_t max_memory, int max_scans,
                              unsigned char **pixels, unsigned *width, unsigned *height,
                              char *message, size_t message_length) {
    struct jpeg_decompress_struct decoder;
    struct error_manager errors;
    struct scan_limit limit;
    unsigned char *volatile output = NULL;
    *pixels = NULL;
    decoder.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = on_error;
    errors.base.emit_message = on_message;
    int escaped = setjmp(errors.escape);
    if (escaped) {
        if (escaped == TOO_MANY_SCANS) {
            snprintf(message, message_length, "more than %d scans", max_scans);
        } else if (escaped == ERRORED && errors.base.msg_code == JERR_NO_BACKING_STORE) {
            /* What libjpeg says when an image needs more than max_memory_to_use. */
            snprintf(message, message_length, "decoding needs more than %zu bytes of memory",
                     max_memory);
        } else {
            char text[JMSG_LENGTH_MAX];
            errors.base.format_message((j_common_ptr)&decoder, text);
            snprintf(message, message_length,
                     escaped == WARNED ? "corrupt JPEG data (%s)" : "%s", text);
        }
        jpeg_destroy_decompress(&decoder);
        free(output);
        return FAILED;
    }
    jpeg_create_decompress(&decoder);
    limit.base.progress_monitor = on_progress;
    limit.errors = &errors;
    limit.max_scans = max_scans;
    decoder.progress = &limit.base;
    jpeg_mem_src(&decoder, data, length);
    jpeg_read_header(&decoder, TRUE);
    if ((unsigned long long)decoder.image_width * decoder.image_height > max_pixels) {
        *width = decoder.image_width;
        *height = decoder.image_height;
        jpeg_destroy_decompress(&decoder);
        return TOO_LARGE;
    }
    if (decoder.jpeg_color_space == JCS_CMYK || decoder.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&decoder);
        return UNSUPPORTED;
    }
    decoder.out_color_space = JCS_RGB;
    decoder.scale_num = 1;
    for (unsigned denominator = 8; denominator >= 1; denominator /= 2) {
        decoder.scale_denom = denominator;
        jpeg_calc_output_dimensions(&decoder);
        if (denominator == 1 ||
            (decoder.output_width >= min_width && decoder.output_height >= min_height)) {
            break;
        }
    }
    size_t stride = (size_t)decoder.output_width * 3;
    size_t output_bytes = stride * decoder.output_height;
    if (output_bytes >= max_memory) {
        snprintf(message, message_length, "decoding needs more than %zu bytes of memory",
                 max_memory);
        jpeg_destroy_decompress(&decoder);
        return FAILED;
    }
    decoder.mem->max_memory_to_use = (long)(max_memory - output_bytes);
    jpeg_start_decompress(&decoder);
    output = malloc(output_bytes);
    if (output == NULL) {
        snprintf(message, message_length, "out of memory");
        jpeg_destroy_decompress(&decoder);
        return FAILED;
    }
    while (decoder.output_scanline < decoder.output_height) {
        unsigned char *row = output + stride * decoder.output_scanline;
        jpeg_read_scanlines(&decoder, &row, 1);
    }
    jpeg_finish_decompress(&decoder);
    if (errors.base.num_warnings > 0) {
        longjmp(errors.escape, WARNED);
    }
    *width = decoder.output_width;
    *height = decoder.output_height;
    *pixels = output;
    jpeg_destroy_decompress(&decoder);
    return DECODED;
}

void runner_jpeg_free(unsigned char *pixels) { free(pixels); }
