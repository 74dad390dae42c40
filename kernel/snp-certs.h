/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * Certificate table of the extended guest request (GHCB
 * SNP_EXT_GUEST_REQUEST): 24-byte entries, terminated by an all-zero
 * entry, offsets counted from the start of the data area. GUIDs are stored
 * in RFC 4122 byte order (the canonical string read left to right).
 */
#ifndef SNP_KERNEL_CERTS_H
#define SNP_KERNEL_CERTS_H

#include "kernel/compat.h"

struct snp_cert_entry {
	u8 guid[16];   /* 0x00 */
	__le32 offset; /* 0x10 from the start of the data area */
	__le32 length; /* 0x14 */
} __packed;

SNP_ASSERT_SIZE(struct snp_cert_entry, 24);
SNP_ASSERT_OFFSET(struct snp_cert_entry, offset, 0x10);
SNP_ASSERT_OFFSET(struct snp_cert_entry, length, 0x14);

/* c0b406a4-a803-4952-9743-3fb6014cd0ae */
#define SNP_GUID_ARK                                                                               \
	{                                                                                          \
		0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01,      \
			0x4c, 0xd0, 0xae                                                           \
	}
/* 4ab7b379-bbac-4fe4-a02f-05aef327c782 (ASK; also carries the ASVK) */
#define SNP_GUID_ASK                                                                               \
	{                                                                                          \
		0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3,      \
			0x27, 0xc7, 0x82                                                           \
	}
/* 63da758d-e664-4564-adc5-f4b93be8accd */
#define SNP_GUID_VCEK                                                                              \
	{                                                                                          \
		0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b,      \
			0xe8, 0xac, 0xcd                                                           \
	}
/* a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
#define SNP_GUID_VLEK                                                                              \
	{                                                                                          \
		0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45,      \
			0xa0, 0xb8, 0xa1                                                           \
	}
/* 92f81bc3-5811-4d3d-97ff-d19f88dc67ea */
#define SNP_GUID_CRL                                                                               \
	{                                                                                          \
		0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88,      \
			0xdc, 0x67, 0xea                                                           \
	}

/* Mainline SEV_FW_BLOB_MAX_SIZE: the largest certificate buffer. */
#define SNP_CERTS_MAX_LEN 0x4000

#endif /* SNP_KERNEL_CERTS_H */
